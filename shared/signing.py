"""HMAC signatures of webhooks, both ways (12345 → intake, notifications → 12345 and subscribers).

`X-Hotline-Signature` = hex HMAC-SHA256 over `timestamp + "." + raw body`; `X-Hotline-Timestamp` =
unix seconds. A request is refused when the signature is wrong, the timestamp is outside the window,
or the same signature was already seen (the caller keeps that replay cache; see `SignatureCheck`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

WINDOW_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class SignatureError(Exception):
    """Why a signed request is refused (HTTP 401)."""


@dataclass(frozen=True)
class SignatureCheck:
    secret: str
    window_seconds: int = WINDOW_SECONDS

    def verify(self, timestamp: str | None, signature: str | None, body: bytes, now_unix: float) -> None:
        """Raises SignatureError unless the signature is right and the timestamp fresh."""
        if not timestamp or not signature:
            raise SignatureError("missing X-Hotline-Timestamp or X-Hotline-Signature")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise SignatureError("X-Hotline-Timestamp must be unix seconds")
        if abs(now_unix - int(timestamp)) > self.window_seconds:
            raise SignatureError(f"timestamp outside the {self.window_seconds} s window")
        if not hmac.compare_digest(sign(self.secret, timestamp, body).encode(), signature.lower().encode()):
            raise SignatureError("signature does not match")
