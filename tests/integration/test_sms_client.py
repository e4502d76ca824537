"""The SMS channel's client (adapters/sms.py, over aiohttp) keeps http_attempt's contract against a real socket:
one deadline for the whole exchange, a byte cap on the answer, no redirects, never the receiver's text in what is
recorded, the delivery id as the idempotency key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from services.notifications.adapters.sms import HttpSmsGateway
from services.notifications.domain.delivery import Outgoing, judge

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


class Provider:
    """A gateway on a real socket: keeps each request's head and body, answers as told."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[bytes, bytes]] = []
        self.sent = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            self.requests.append((head, await reader.readexactly(length)))
            await self.answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (what some of these tests want)
        finally:
            writer.close()


@asynccontextmanager
async def provider(answer: Answer) -> AsyncIterator[tuple[Provider, str]]:
    found = Provider(answer)
    server = await asyncio.start_server(found.serve, "127.0.0.1", 0)
    try:
        yield found, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/sms"
    finally:
        server.close()


def outgoing(body: str = "【网格督办】案件黄灯") -> Outgoing:
    return Outgoing(id="d-1", channel="sms", recipient="worker:gw-1", address="13900000001", body=body)


async def send(url: str, deadline: float = 5.0, max_bytes: int = 16_384):
    gateway = HttpSmsGateway(url, timeout_seconds=deadline, max_response_bytes=max_bytes)
    try:
        return await gateway.send(outgoing())
    finally:
        await gateway.close()


def answering(status: str, body: bytes = b"{}") -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n".encode()
                     + b"content-type: application/json\r\n\r\n" + body)
        await writer.drain()
    return answer


async def test_a_send_carries_the_text_as_json_and_the_delivery_id_as_its_key():
    async with provider(answering("201 Created")) as (gateway, url):
        attempt = await send(url)
    assert attempt.succeeded and attempt.status_code == 201
    (head, body), = gateway.requests
    assert head.startswith(b"POST /sms HTTP/1.1") and b"\r\nIdempotency-Key: d-1\r\n" in head
    assert b"traceparent" not in head.lower()  # tracing is off here
    assert json.loads(body) == {"phone": "13900000001", "text": "【网格督办】案件黄灯"}


async def test_a_huge_answer_is_read_only_up_to_the_cap_then_dropped():
    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")  # no length: until the end
        while True:
            writer.write(b"x" * 1024)
            await writer.drain()
            gateway.sent += 1024

    async with provider(endless) as (gateway, url):
        attempt = await send(url, max_bytes=16_384)
        assert attempt.succeeded and attempt.error is None
        # Dropped, not drained: the provider's writes stop once the socket's buffers fill.
        assert gateway.sent < 16 * 1024 * 1024


async def test_a_trickling_answer_is_cut_at_the_deadline_the_status_standing():
    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with provider(trickle) as (_, url):
        started = time.monotonic()
        attempt = await send(url, deadline=0.3)
    assert time.monotonic() - started < 1.0
    assert (attempt.status_code, attempt.error) == (503, "HTTP 503")


async def test_a_provider_that_never_answers_is_a_timeout_at_the_deadline_and_retried():
    async def hang(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with provider(hang) as (_, url):
        started = time.monotonic()
        attempt = await send(url, deadline=0.2)
    assert time.monotonic() - started < 1.0
    assert attempt.status_code is None and attempt.error == "Timeout: no answer within 0.2 s"
    assert judge(attempt, 1, 5) == "retry"


async def test_a_redirect_is_not_followed_and_fails_for_good():
    async with provider(answering("302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/", b"")) as (
            gateway, url):
        attempt = await send(url)
    assert len(gateway.requests) == 1
    assert attempt.error == "HTTP 302: redirects are not followed" and judge(attempt, 1, 5) == "dead"


async def test_the_providers_text_is_never_kept():
    leak = b"postgres password=hunter2 <html>internal</html>"
    async with provider(answering("500 Internal Server Error", leak)) as (_, url):
        assert (await send(url)).error == "HTTP 500"

    async def garbled(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 ?? " + leak + b"\r\n\r\n")
        await writer.drain()

    async with provider(garbled) as (_, url):
        attempt = await send(url)
    assert attempt.status_code is None and b"hunter2" not in (attempt.error or "").encode()
    assert judge(attempt, 1, 5) == "retry"


async def test_a_closed_port_is_a_connect_error_and_retried():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    attempt = await send(f"http://127.0.0.1:{port}/sms")
    assert attempt.status_code is None and (attempt.error or "").startswith("ConnectError: ")
    assert judge(attempt, 1, 5) == "retry"
