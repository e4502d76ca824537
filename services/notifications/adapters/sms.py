"""SMS through an HTTP gateway. The delivery id travels as the idempotency key, so a retry after a
crash between sending and recording reaches the phone once."""

from __future__ import annotations

import httpx

from services.notifications.domain.delivery import Attempt


class HttpSmsGateway:
    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        self._url = url
        self._http = httpx.AsyncClient(timeout=timeout_seconds)

    async def send(self, delivery_id: str, phone: str, text: str) -> Attempt:
        try:
            response = await self._http.post(self._url, json={"phone": phone, "text": text},
                                             headers={"Idempotency-Key": delivery_id})
        except httpx.HTTPError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Attempt(response.status_code)
        return Attempt(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._http.aclose()
