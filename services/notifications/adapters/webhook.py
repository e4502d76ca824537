"""Signed webhooks (12345 callbacks): HMAC like the inbound 12345 webhook, idempotency key per delivery."""

from __future__ import annotations

import time

import httpx

from services.notifications.domain.delivery import Attempt
from shared.signing import sign


class SignedWebhook:
    def __init__(self, secret: str, timeout_seconds: float = 5.0) -> None:
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout_seconds)

    async def send(self, delivery_id: str, url: str, body: str) -> Attempt:
        raw = body.encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery_id,
                   "X-Hotline-Timestamp": timestamp, "X-Hotline-Signature": sign(self._secret, timestamp, raw)}
        try:
            response = await self._http.post(url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Attempt(response.status_code)
        return Attempt(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._http.aclose()
