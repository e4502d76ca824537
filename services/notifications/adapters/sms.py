"""SMS through an HTTP gateway. The delivery id travels as the idempotency key, so a retry after a
crash between sending and recording reaches the phone once. Like webhooks, a send has one deadline for the whole
exchange, reads at most a few KiB of the answer and follows no redirect (adapters/http_attempt.py); over aiohttp,
the cheaper client for the channel that carries the volume."""

from __future__ import annotations

import json

import aiohttp

from services.notifications.adapters.http_attempt import DEFAULT_MAX_BYTES, post_aiohttp
from services.notifications.domain.delivery import Attempt, Outgoing


class HttpSmsGateway:
    def __init__(self, url: str, timeout_seconds: float = 5.0, max_response_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._url = url
        self._deadline = timeout_seconds
        self._max_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None  # opened by the first send, inside the running loop

    async def send(self, delivery: Outgoing) -> Attempt:
        if self._session is None:
            # The deadline is post_aiohttp's own. No proxy or netrc from the environment: with them aiohttp reads
            # ~/.netrc in a thread at every request (a quarter of the deliverer's CPU under load, py-spy).
            self._session = aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=None))
        # With tracing on, aiohttp's instrumentation adds the send's `traceparent` (shared/tracing.py).
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.id}
        body = json.dumps({"phone": delivery.address, "text": delivery.body}, ensure_ascii=False).encode()
        return await post_aiohttp(self._session, self._url, deadline=self._deadline, data=body, headers=headers,
                                  max_bytes=self._max_bytes)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
