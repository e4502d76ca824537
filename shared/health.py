"""`/health` (process up), `/ready` (database and Kafka reachable), `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ReadinessCheck = Callable[[], Awaitable[None]]

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["service", "method", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def database_check(pool: asyncpg.Pool) -> ReadinessCheck:
    async def check() -> None:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    return check


def kafka_check(bootstrap: str) -> ReadinessCheck:
    """The broker accepts a connection (cheap enough to run on every probe)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")

    async def check() -> None:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout=2)
        writer.close()
        await writer.wait_closed()
    return check


def health_router(service: str, checks: Callable[[], dict[str, ReadinessCheck]]) -> APIRouter:
    """`checks` is called per probe: the checks exist only once the service has started."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/ready", responses={503: {"description": "a dependency is unreachable"}})
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports any failure, never raises
                results[name] = f"failed: {type(exc).__name__}"
        ok = bool(results) and all(v == "ok" for v in results.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": results},
                            status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response,
                responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class RequestMetrics:
    """Count and time requests by route template (a plain ASGI middleware: cheap on the hot path)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()
            LATENCY.labels(self.service, scope["method"], path).observe(time.perf_counter() - started)


def install_request_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestMetrics, service=service)
