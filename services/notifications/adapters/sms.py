"""SMS through an HTTP gateway. The delivery id travels as the idempotency key, so a retry after a
crash between sending and recording reaches the phone once. Like webhooks, a send has one deadline for the whole
exchange, reads at most a few KiB of the answer and follows no redirect (adapters/http_attempt.py)."""

from __future__ import annotations

import httpx

from services.notifications.adapters.http_attempt import DEFAULT_MAX_BYTES, post
from services.notifications.domain.delivery import Attempt, Outgoing


class HttpSmsGateway:
    def __init__(self, url: str, timeout_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None,
                 max_response_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._url = url
        self._deadline = timeout_seconds
        self._max_bytes = max_response_bytes
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport, follow_redirects=False)

    async def send(self, delivery: Outgoing) -> Attempt:
        return await post(self._http, self._url, deadline=self._deadline, max_bytes=self._max_bytes,
                          json={"phone": delivery.address, "text": delivery.body},
                          headers={"Idempotency-Key": delivery.id})

    async def close(self) -> None:
        await self._http.aclose()
