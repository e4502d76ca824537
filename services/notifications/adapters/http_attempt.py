"""One HTTP delivery attempt, as the delivery rules see it (domain/delivery.py judges the outcome)."""

from __future__ import annotations

from typing import Any

import httpx

from services.notifications.domain.delivery import Attempt


async def post(http: httpx.AsyncClient, url: str, **request: Any) -> Attempt:
    try:
        response = await http.post(url, **request)
    except httpx.HTTPError as exc:  # refused, reset, timed out: the provider did not answer
        return Attempt(None, f"{type(exc).__name__}: {exc}")
    if response.is_success:
        return Attempt(response.status_code)
    return Attempt(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")
