"""Fetching a file from a URL someone else gave us (a 12345 order's attachments, an Open311 `media_url`).

Through shared/egress.py: the URL checked before the call (no loopback, private, link-local or cloud metadata
address, unless the settings open one) and the connection made only to an address checked again then (no DNS
rebinding), no proxy from the environment, no redirect followed (a 3xx is a failure), at most `max_bytes` read
(streamed; a longer body is cut off and refused), and one deadline for the whole fetch, whatever the server does.
Every failure is a `FetchFailed` saying whether trying again could help; what the server sent is never quoted.
"""

from __future__ import annotations

import asyncio

import httpx

from services.intake.service_layer.attachments import FetchFailed
from shared.egress import Egress, EgressRefused, GuardedTransport, RefusedConnection

ACCEPT = "image/jpeg, image/png, image/webp, application/pdf;q=0.9, */*;q=0.1"
# Statuses worth another try later: the server is busy or down, not the URL wrong.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class GuardedFetcher:
    """service_layer/attachments.py `UrlFetcher`."""

    def __init__(self, egress: Egress, *, deadline_seconds: float = 20.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """`transport`: tests only; the URL is still checked before each fetch."""
        self._egress = egress
        self._deadline = deadline_seconds
        self._http = httpx.AsyncClient(transport=transport or GuardedTransport(egress), timeout=deadline_seconds,
                                       follow_redirects=False, trust_env=False,
                                       headers={"Accept": ACCEPT, "Accept-Encoding": "identity",
                                                "User-Agent": "grid-intake attachment fetcher"})

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        try:
            async with asyncio.timeout(self._deadline):
                await self._egress.check(url)
                async with self._http.stream("GET", url) as response:
                    _check_status(response.status_code)
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise FetchFailed(f"the file is {int(declared):,} bytes; at most {max_bytes:,} are taken",
                                          permanent=True)
                    return await _read_at_most(response, max_bytes)
        except TimeoutError as exc:
            raise FetchFailed(f"no file within {self._deadline:g} s", permanent=False) from exc
        except EgressRefused as exc:
            raise FetchFailed(f"refused: {exc.reason}", permanent=exc.permanent) from exc
        except httpx.HTTPError as exc:
            raise _failure(exc) from exc

    async def close(self) -> None:
        await self._http.aclose()


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise FetchFailed(f"HTTP {status}: redirects are not followed", permanent=True)
    raise FetchFailed(f"HTTP {status}", permanent=status not in TRANSIENT_STATUSES)


async def _read_at_most(response: httpx.Response, max_bytes: int) -> bytes:
    chunks, seen = [], 0
    async for chunk in response.aiter_bytes():
        seen += len(chunk)
        if seen > max_bytes:
            raise FetchFailed(f"the file is larger than {max_bytes:,} bytes, the most taken", permanent=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(exc: httpx.HTTPError) -> FetchFailed:
    """A failure without a file, in our words: the egress policy's refusal, a timeout, or the kind of error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefusedConnection):
            return FetchFailed(f"refused: {cause.refused.reason}", permanent=cause.refused.permanent)
        cause = cause.__cause__
    if isinstance(exc, httpx.TimeoutException):
        return FetchFailed(f"Timeout: {type(exc).__name__}", permanent=False)
    if isinstance(exc, httpx.ConnectError):
        return FetchFailed(f"ConnectError: {str(exc)[:160]}", permanent=False)
    return FetchFailed(type(exc).__name__, permanent=False)
