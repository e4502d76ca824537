"""Signed webhooks (12345 callbacks): HMAC like the inbound 12345 webhook, idempotency key per delivery."""

from __future__ import annotations

import time

import httpx

from services.notifications.adapters.http_attempt import post
from services.notifications.domain.delivery import Attempt, Outgoing
from shared.signing import sign


class SignedWebhook:
    def __init__(self, secret: str, timeout_seconds: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    async def send(self, delivery: Outgoing) -> Attempt:
        raw = delivery.body.encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.id,
                   "X-Hotline-Timestamp": timestamp, "X-Hotline-Signature": sign(self._secret, timestamp, raw)}
        return await post(self._http, delivery.address, content=raw, headers=headers)

    async def close(self) -> None:
        await self._http.aclose()
