"""One HTTP delivery attempt, as the delivery rules see it (domain/delivery.py judges the outcome).

Whatever the receiver does, an attempt ends within its deadline (one deadline for the whole exchange: connecting,
sending, waiting, reading; a receiver trickling a byte a second is cut off like one that never answers), reads at
most `max_bytes` of the answer (streamed, then the connection is dropped) and never follows a redirect (a 3xx is a
failure). What the receiver answered is never kept: the attempt carries its status code and a short reason of
ours, never the receiver's text (it would end up in the delivery log).

Two clients, one behaviour: `post` over httpx (webhooks and 12345 callbacks: their connections go through the egress
policy's transport, shared/egress.py) and `post_aiohttp` over aiohttp (the SMS gateway, the volume: one send per
owner, supervisor and bundle; aiohttp spends about a tenth of httpx's CPU per request, measured in bench: 0.1 against
1.0-1.4 ms on this machine).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx

from services.notifications.domain.delivery import Attempt
from shared.egress import RefusedConnection

DEFAULT_MAX_BYTES = 16_384


async def post(http: httpx.AsyncClient, url: str, *, deadline: float, max_bytes: int = DEFAULT_MAX_BYTES,
               started: float | None = None, **request: Any) -> Attempt:
    """POST within `deadline` seconds of `started` (time.monotonic(); default: now), whatever the receiver does."""
    status: int | None = None
    left = deadline if started is None else deadline - (time.monotonic() - started)
    try:
        async with asyncio.timeout(max(0.0, left)):
            async with http.stream("POST", url, follow_redirects=False, **request) as response:
                status = response.status_code
                await _read_at_most(response, max_bytes)
    except TimeoutError:
        if status is None:
            return Attempt(None, f"Timeout: no answer within {deadline:g} s")
        # The status came in time, the rest of the answer did not: the status stands, the rest was not waited for.
    except httpx.HTTPError as exc:  # refused, reset, unreadable: the receiver gave no answer we can use
        if status is None:
            return _failure(exc)
    return _answer(status)


async def _read_at_most(response: httpx.Response, max_bytes: int) -> None:
    """Read (and drop) the answer, up to `max_bytes`: an answer read whole lets the connection be used again; a
    longer one is not read further, and leaving the block closes its connection."""
    if response.is_stream_consumed:  # an answer already in memory (a test's transport): nothing left to read
        return
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > max_bytes:
            return


async def post_aiohttp(session: aiohttp.ClientSession, url: str, *, deadline: float, data: bytes,
                       headers: dict[str, str], max_bytes: int = DEFAULT_MAX_BYTES) -> Attempt:
    """`post`'s contract over aiohttp: one deadline for the whole exchange, at most `max_bytes` of the answer read,
    no redirect followed, a failure described in our words."""
    status: int | None = None
    try:
        async with asyncio.timeout(max(0.0, deadline)):
            async with session.post(url, data=data, headers=headers, allow_redirects=False) as response:
                status = response.status
                seen = 0
                async for chunk in response.content.iter_any():
                    seen += len(chunk)
                    if seen > max_bytes:
                        response.close()  # not read further: the connection goes, not back to the pool
                        break
    except TimeoutError:
        if status is None:
            return Attempt(None, f"Timeout: no answer within {deadline:g} s")
    except aiohttp.ClientConnectorError as exc:  # the operating system's or TLS's words, not the receiver's
        return Attempt(None, f"ConnectError: {str(exc)[:160]}")
    except aiohttp.ClientError as exc:  # reset, unreadable: no answer we can use (the text may quote the receiver)
        if status is None:
            return Attempt(None, type(exc).__name__)
    return _answer(status)


def _answer(status: int) -> Attempt:
    if 200 <= status < 300:
        return Attempt(status)
    if 300 <= status < 400:
        return Attempt(status, f"HTTP {status}: redirects are not followed")
    return Attempt(status, f"HTTP {status}")


def _failure(exc: httpx.HTTPError) -> Attempt:
    """A failure without an answer, described in our words: the egress policy's refusal, a timeout, or the kind
    of error (the connection's own error text where it is ours: the operating system's or TLS's)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefusedConnection):
            return Attempt(None, f"refused: {cause.refused.reason}", permanent=cause.refused.permanent)
        cause = cause.__cause__
    if isinstance(exc, httpx.TimeoutException):
        return Attempt(None, f"Timeout: {type(exc).__name__}")
    if isinstance(exc, httpx.ConnectError):
        return Attempt(None, f"ConnectError: {str(exc)[:160]}")
    return Attempt(None, type(exc).__name__)  # e.g. RemoteProtocolError, whose text may quote the receiver
