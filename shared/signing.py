"""HMAC signatures of webhooks, both ways (12345 → intake, notifications → 12345 and subscribers).

`X-Hotline-Signature` (or `X-Grid-Signature` to subscribers) = hex HMAC-SHA256, under the secret of that link and
direction, over one canonical string:

    METHOD "\\n" TARGET "\\n" TIMESTAMP "\\n" BODY

METHOD is upper case (`POST`); TARGET is the request target as sent on the request line: the percent-encoded path,
plus `?` and the query string when there is one (`/v1/hotline/orders/GD202611230001/events`); TIMESTAMP is the
`X-Hotline-Timestamp` header (unix seconds, digits only); BODY is the raw body, byte for byte. So a signature is
good for one method, one URL, one moment and one body: the order number in a path is covered as well.

A request is refused when a header is missing or malformed, the signature is wrong, the timestamp is outside the
window, or the same signature was already seen (the caller keeps that replay cache; see `SignatureCheck`).
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

WINDOW_SECONDS = 300
MAX_TIMESTAMP_DIGITS = 12  # unix seconds have 10 digits until the year 2286; anything longer is not a time
SIGNATURE_HEX_DIGITS = 64  # SHA-256


def canonical(method: str, target: str | bytes, timestamp: str, body: bytes) -> bytes:
    """What is signed: method, request target (path and query as sent), timestamp and raw body, one per line."""
    raw_target = target if isinstance(target, bytes) else target.encode()
    return b"\n".join((method.upper().encode("ascii"), raw_target, timestamp.encode("ascii"), body))


def sign(secret: str, method: str, target: str | bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), canonical(method, target, timestamp, body), hashlib.sha256).hexdigest()


def request_target(scope: Mapping[str, Any]) -> bytes:
    """An ASGI request's target as it came on the request line: its raw (percent-encoded) path, plus `?` and the
    query string when there is one. (Servers differ on whether `raw_path` carries the query; it is cut off.)"""
    raw = scope.get("raw_path") or quote(str(scope.get("path", ""))).encode("ascii")
    path = bytes(raw).split(b"?", 1)[0]
    query = bytes(scope.get("query_string") or b"")
    return path + b"?" + query if query else path


class SignatureError(Exception):
    """Why a signed request is refused (HTTP 401)."""


def _unix_seconds(timestamp: str) -> int:
    """The header as unix seconds, or SignatureError: ASCII digits only, and not absurdly many of them (Python
    refuses to read an int of more than 4,300 digits, and no time has more than a dozen)."""
    if not (0 < len(timestamp) <= MAX_TIMESTAMP_DIGITS and timestamp.isascii() and timestamp.isdigit()):
        raise SignatureError(f"X-Hotline-Timestamp must be unix seconds (at most {MAX_TIMESTAMP_DIGITS} digits)")
    return int(timestamp)


def _well_formed(signature: str) -> bool:
    return len(signature) == SIGNATURE_HEX_DIGITS and all(c in string.hexdigits for c in signature)


@dataclass(frozen=True)
class SignatureCheck:
    secret: str
    window_seconds: int = WINDOW_SECONDS
    # While a secret is rotated, the sender may still sign with the one before it for a while: it is accepted too
    # (empty: none). Set it to the old secret, switch the sender, then clear it.
    previous: str = ""

    def verify(self, method: str, target: str | bytes, timestamp: str | None, signature: str | None, body: bytes,
               now_unix: float) -> None:
        """Raises SignatureError unless the signature is right for this method, target and body, and the
        timestamp fresh. Never anything else, whatever the headers hold."""
        if not timestamp or not signature:
            raise SignatureError("missing X-Hotline-Timestamp or X-Hotline-Signature")
        moment = _unix_seconds(timestamp)
        if not _well_formed(signature):
            raise SignatureError(f"the signature must be {SIGNATURE_HEX_DIGITS} hex digits (HMAC-SHA256)")
        if abs(now_unix - moment) > self.window_seconds:
            raise SignatureError(f"timestamp outside the {self.window_seconds} s window")
        given = signature.lower().encode()
        secrets = [self.secret, self.previous] if self.previous else [self.secret]
        # Every secret is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(sign(secret, method, target, timestamp, body).encode(), given)
                   for secret in secrets]
        if not any(matches):
            raise SignatureError("signature does not match")
