"""The paced load's HTTP client: keep-alive POSTs over plain asyncio streams.

The benchmarks' load generators run on the machine they measure. wrk (the full load's) spends ~0.08 ms of CPU per
request; httpx, which posted the paced reports, spent 2.5–5 ms per report: at 100 reports/s, a quarter to half of
one of the two cores, taken from the platform whose latency it was timing. This client writes each request as one
prepared buffer and reads the answer by its Content-Length (or its chunks), nothing more.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit


class LightClient:
    """POSTs JSON to one server over up to `connections` keep-alive connections."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int = 32) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.gate = asyncio.Semaphore(connections)

    async def post_json(self, path: str, body: object, headers: dict[str, str] | None = None,
                        attempts: int = 3) -> tuple[int, bytes]:
        """(status, body). A kept-alive connection the server closed meanwhile is dropped and the request sent again
        (with the same headers: an Idempotency-Key makes that the same report); `attempts` new connections failing
        raise."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}{extra}"
                   f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
        async with self.gate:
            failures = 0
            while True:
                reused = bool(self.idle)  # one the server may have closed since (its keep-alive timeout)
                reader, writer = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(request)
                    status, answer, keep = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    failures += 0 if reused else 1
                    if failures == attempts:
                        raise
                    continue
                if keep:
                    self.idle.append((reader, writer))
                else:
                    writer.close()
                return status, answer

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])
              if name}
    if "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        body = b"".join(chunks)
    else:
        body = await reader.read()  # closed by the server at its end
        return status, body, False
    return status, body, fields.get("connection", "").lower() != "close"
