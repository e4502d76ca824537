"""Signed webhooks: 12345 callbacks and subscribers' receivers (shared/signing.py: HMAC-SHA256 over method, request
target, timestamp and body), with the delivery id as `Idempotency-Key`.

12345 gets the callback secret (NOTIFICATIONS_HOTLINE_CALLBACK_SECRET) under X-Hotline-Timestamp/-Signature, the
way the hotline signs to us with a secret of its own; each subscriber gets its own secret (the delivery brings it,
service_layer/handlers.py) under X-Grid-Timestamp/-Signature, so no subscriber can sign as us to another.

Before every send the URL is checked again (shared/egress.py: https outside dev and test, a public address), and
the transport connects only to an address it checked; no redirect is followed, the whole exchange has one deadline
and at most `max_response_bytes` of the answer is read (adapters/http_attempt.py).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from services.notifications.adapters.http_attempt import DEFAULT_MAX_BYTES, post
from services.notifications.domain.cases import HOTLINE_RECIPIENT_PREFIX
from services.notifications.domain.delivery import Attempt, Outgoing
from shared.egress import Egress, EgressRefused, GuardedTransport
from shared.signing import sign


class SignedWebhook:
    def __init__(self, hotline_secret: str, egress: Egress, *, deadline_seconds: float = 5.0,
                 max_response_bytes: int = DEFAULT_MAX_BYTES, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        """`transport`: tests only (an in-process receiver); the URL is still checked before each send."""
        self._hotline_secret = hotline_secret
        self._egress = egress
        self._deadline = deadline_seconds
        self._max_bytes = max_response_bytes
        self._http = httpx.AsyncClient(transport=transport or GuardedTransport(egress), timeout=deadline_seconds,
                                       follow_redirects=False, trust_env=False)

    async def send(self, delivery: Outgoing) -> Attempt:
        if delivery.recipient.startswith(HOTLINE_RECIPIENT_PREFIX):
            secret, prefix = self._hotline_secret, "X-Hotline"
        elif delivery.secret:
            secret, prefix = delivery.secret, "X-Grid"
        else:
            return Attempt(None, "no signing secret: the subscription is gone, or has none yet (rotate it: "
                                 "POST /v1/subscriptions/{id}/secret)", permanent=True)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._deadline):  # the lookup counts against the send's one deadline
                await self._egress.check(delivery.address)
        except EgressRefused as exc:
            return Attempt(None, f"refused: {exc.reason}", permanent=exc.permanent)
        except TimeoutError:
            return Attempt(None, f"Timeout: no answer within {self._deadline:g} s")
        raw = delivery.body.encode()
        timestamp = str(int(time.time()))  # the receiver checks it against its own wall clock
        target = httpx.URL(delivery.address).raw_path  # path and query, as they go on the request line
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.id,
                   f"{prefix}-Timestamp": timestamp,
                   f"{prefix}-Signature": sign(secret, "POST", target, timestamp, raw)}
        return await post(self._http, delivery.address, deadline=self._deadline, started=started,
                          max_bytes=self._max_bytes, content=raw, headers=headers)

    async def close(self) -> None:
        await self._http.aclose()
