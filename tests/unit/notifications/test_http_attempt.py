"""One HTTP send (issue 15): a byte cap on the answer (streamed, then dropped), one deadline for the whole exchange,
no redirects, and never the receiver's text in what is recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx

from services.notifications.adapters.http_attempt import post
from services.notifications.domain.delivery import judge
from shared.egress import EgressRefused, RefusedConnection


class Endless(httpx.AsyncByteStream):
    """An answer that never ends, counting what was taken of it."""

    def __init__(self, chunk: bytes = b"x" * 1024, pause: float = 0.0) -> None:
        self.chunk, self.pause, self.given, self.closed = chunk, pause, 0, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self.pause:
                await asyncio.sleep(self.pause)
            self.given += len(self.chunk)
            yield self.chunk

    async def aclose(self) -> None:
        self.closed = True


def client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_huge_answer_is_read_only_up_to_the_cap_then_dropped():
    stream = Endless()
    async with client(lambda request: httpx.Response(200, stream=stream)) as http:
        attempt = await post(http, "https://hooks.example/x", deadline=5, max_bytes=16_384, content=b"{}")
    assert attempt.succeeded and attempt.error is None
    assert stream.given <= 16_384 + 1024 and stream.closed


async def test_a_trickling_answer_is_cut_at_the_deadline_the_status_standing():
    stream = Endless(b"x", pause=0.05)
    async with client(lambda request: httpx.Response(503, stream=stream)) as http:
        started = time.monotonic()
        attempt = await post(http, "https://hooks.example/x", deadline=0.3, content=b"{}")
    assert time.monotonic() - started < 1.0 and stream.closed
    assert (attempt.status_code, attempt.error) == (503, "HTTP 503")


async def test_a_receiver_that_never_answers_is_a_timeout_at_the_deadline():
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    async with client(hang) as http:
        started = time.monotonic()
        attempt = await post(http, "https://hooks.example/x", deadline=0.2, content=b"{}")
    assert time.monotonic() - started < 1.0
    assert attempt.status_code is None and attempt.error == "Timeout: no answer within 0.2 s"
    assert judge(attempt, 1, 5) == "retry"


async def test_a_redirect_is_not_followed_and_fails_for_good():
    seen: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    async with client(redirect) as http:
        attempt = await post(http, "https://hooks.example/x", deadline=5, content=b"{}")
    assert seen == ["https://hooks.example/x"]
    assert attempt.error == "HTTP 302: redirects are not followed" and judge(attempt, 1, 5) == "dead"


async def test_the_receivers_text_is_never_kept():
    leak = "postgres password=hunter2 <html>internal</html>"
    async with client(lambda request: httpx.Response(500, text=leak)) as http:
        attempt = await post(http, "https://hooks.example/x", deadline=5, content=b"{}")
    assert attempt.error == "HTTP 500"

    def garbled(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError(f"illegal status line: {leak}")

    async with client(garbled) as http:
        attempt = await post(http, "https://hooks.example/x", deadline=5, content=b"{}")
    assert attempt.error == "RemoteProtocolError" and attempt.status_code is None


async def test_a_refused_connection_says_why_in_our_words_and_for_good():
    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise RefusedConnection(EgressRefused("rebind.example resolves to 10.0.0.1, a private address"))
        except RefusedConnection as exc:
            raise httpx.ConnectError(str(exc)) from exc

    async with client(refuse) as http:
        attempt = await post(http, "https://rebind.example/x", deadline=5, content=b"{}")
    assert attempt.error == "refused: rebind.example resolves to 10.0.0.1, a private address"
    assert attempt.permanent and judge(attempt, 1, 5) == "dead"
