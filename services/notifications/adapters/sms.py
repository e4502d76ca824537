"""SMS through an HTTP gateway. The delivery id travels as the idempotency key, so a retry after a
crash between sending and recording reaches the phone once."""

from __future__ import annotations

import httpx

from services.notifications.adapters.http_attempt import post
from services.notifications.domain.delivery import Attempt, Outgoing


class HttpSmsGateway:
    def __init__(self, url: str, timeout_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        self._url = url
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    async def send(self, delivery: Outgoing) -> Attempt:
        return await post(self._http, self._url, json={"phone": delivery.address, "text": delivery.body},
                          headers={"Idempotency-Key": delivery.id})

    async def close(self) -> None:
        await self._http.aclose()
