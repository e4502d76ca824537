"""Signed webhooks: 12345 callbacks and subscribers' receivers. HMAC-SHA256 over `timestamp + "." + body`
as the inbound 12345 webhook (shared/signing.py), and the delivery id as `Idempotency-Key`.

12345 gets its own secret and header names (X-Hotline-*), the way the hotline signs to us; every other
receiver gets the subscribers' secret under X-Grid-Timestamp / X-Grid-Signature.
"""

from __future__ import annotations

import time

import httpx

from services.notifications.adapters.http_attempt import post
from services.notifications.domain.cases import HOTLINE_RECIPIENT_PREFIX
from services.notifications.domain.delivery import Attempt, Outgoing
from shared.signing import sign


class SignedWebhook:
    def __init__(self, hotline_secret: str, subscriber_secret: str, timeout_seconds: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._hotline_secret = hotline_secret
        self._subscriber_secret = subscriber_secret
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    async def send(self, delivery: Outgoing) -> Attempt:
        raw = delivery.body.encode()
        timestamp = str(int(time.time()))  # the receiver checks it against its own wall clock
        if delivery.recipient.startswith(HOTLINE_RECIPIENT_PREFIX):
            secret, prefix = self._hotline_secret, "X-Hotline"
        else:
            secret, prefix = self._subscriber_secret, "X-Grid"
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.id,
                   f"{prefix}-Timestamp": timestamp, f"{prefix}-Signature": sign(secret, timestamp, raw)}
        return await post(self._http, delivery.address, content=raw, headers=headers)

    async def close(self) -> None:
        await self._http.aclose()
