"""structlog JSON logging; phone numbers and ID-card numbers never reach a log line in clear (structlog's lines
and the standard library's alike: uvicorn, asyncpg, tracebacks)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from shared.resilience import quiet_library_retries

# Mainland mobile numbers (optionally +86): 139****1111.
_MOBILE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# Landlines with their area code (0512-65231234, (010)12345678, 051265231234): 0512-****1234. Area codes start
# with 0, so no grid or unit code (they start with the province's digit) is taken for one.
_LANDLINE = re.compile(r"(?<![\d-])\(?(0\d{2,3})\)?[- ]?(\d{3,4})(\d{4})(?![\d-])")
# Resident ID cards (GB 11643: 6-digit region, 8-digit birth date, 3 digits, check digit or X): 320508********123X.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
                      r"(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_phone(text: str) -> str:
    """Phone and ID-card numbers in `text`, masked (the name is the oldest of the three it masks)."""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)


class MaskingFilter(logging.Filter):
    """The standard library's records (uvicorn, asyncpg, a traceback) masked like structlog's."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone(record.exc_text)
        return True


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def mask_phones_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    return {k: _mask(v) for k, v in event_dict.items()}


def configure_logging(service: str, role: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_phones_processor,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, role=role)
    # Quiet chatty libraries; their warnings still pass, but not one per retry while a dependency is away.
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_library_retries()


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
