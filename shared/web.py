"""The FastAPI application every service serves: problems, health, metrics, and its container."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import Access, install_access
from shared.auth import TokenVerifier
from shared.health import database_check, health_router, install_request_metrics, kafka_check
from shared.problems import Problem, document_problems, install_problem_handlers, problem_response
from shared.resilience import POSTGRES, POSTGRES_AWAY, PROCESS_OUTAGES, RETRY_AFTER_SECONDS, RideOut, unavailable
from shared.runtime import ServiceContainer
from shared.tracing import instrument_app

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
log = structlog.get_logger("web")


class BodyTooLarge(StarletteHTTPException):
    """413, raised from inside `receive` once a streamed body passes its limit. An HTTPException, because
    FastAPI re-raises those from its body reading (anything else there becomes a 400); the problem handler
    answers it as problem+json."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


class BodySizeLimit:
    """Refuse request bodies over a limit with 413 before the application reads them: by Content-Length when
    the request declares one (nothing is read), else by counting the bytes as they are received (no more than
    the limit and one chunk is ever read). It is the outermost layer, so it runs before authentication.

    Every route gets `max_bytes`; a route named in `larger` ((method, path) → bytes; the path as the route names
    it, parameters included: `/v1/incidents/{incident_id}/attachments`) gets its own limit here instead, and must
    check its caller before it reads the body (`read_body`), so an unauthenticated request never makes the process
    read more than the default."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = {key: limit for key, limit in (larger or {}).items() if "{" not in key[1]}
        self.templated = [(method, _path_pattern(path), limit) for (method, path), limit in (larger or {}).items()
                          if "{" in path]

    def limit_for(self, scope: Scope) -> int:
        method, path = scope["method"], scope["path"]
        exact = self.larger.get((method, path))
        if exact is not None:
            return exact
        return next((limit for m, pattern, limit in self.templated if m == method and pattern.fullmatch(path)),
                    self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await problem_response(Problem(413, f"request body larger than {limit} bytes"))(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


def _path_pattern(path: str) -> re.Pattern[str]:
    """A route's path with `{parameters}` as a pattern of the paths it serves (a parameter is one segment)."""
    return re.compile(re.sub(r"\\\{[^\\/]+\\\}", "[^/]+", re.escape(path)))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, read as it streams in and refused (413) as soon as it passes `max_bytes`: for a
    route with a larger limit than the default (BodySizeLimit's `larger`), called once its caller is checked."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


# ---- The database away: 503 with Retry-After, never a 500 -----------------------------------------------------

PROBES = frozenset({"/health", "/ready", "/metrics"})


def unavailable_problem() -> Problem:
    return Problem(503, "the service's database is unavailable for a moment; retry after the time given",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _not_started() -> None:
    raise ServiceStarting("waiting for the database to start the service")


class ServiceStarting(Exception):
    """Readiness while the container is not built yet."""


class UntilStarted:
    """While the process waits for its database to start (it was away at start), every request but the probes
    gets 503 with Retry-After: nothing else could be answered without the container."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and getattr(self.state, "starting", False) and scope["path"] not in PROBES:
            await problem_response(unavailable_problem())(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_unavailable_handlers(app: FastAPI) -> None:
    """The database restarting, recovering ("the database system is starting up"), refusing or dropping
    connections: 503 problem+json with Retry-After, one log line per outage (and one when it ends, from a probe
    of the pool with backoff), never a 500 nor a stack trace. Any other error of these classes (a file not
    found is an OSError too) goes to the unexpected-error handler as before."""

    async def handler(request: Request, exc: Exception) -> Response:
        if unavailable(exc) != POSTGRES:
            response = app.exception_handlers[Exception](request, exc)
            return await response if inspect.isawaitable(response) else response
        PROCESS_OUTAGES[POSTGRES].failed(exc)
        container = getattr(request.app.state, "container", None)
        watch = getattr(request.app.state, "database_watch", None)
        if container is not None and (watch is None or watch.done()):
            request.app.state.database_watch = asyncio.create_task(_watch_database(container.pool))
        return problem_response(unavailable_problem())

    for cls in (*POSTGRES_AWAY, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError):
        app.add_exception_handler(cls, handler)


async def _watch_database(pool: asyncpg.Pool) -> None:
    """Probe the pool (backoff) until the database answers again, then close the outage (its log line)."""

    async def probe() -> None:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    await RideOut().call(probe)
    PROCESS_OUTAGES[POSTGRES].ok()


def _storable_year(value: datetime) -> datetime:
    if not 1900 <= value.year <= 2199:
        raise ValueError("a date-time between the years 1900 and 2199")
    return value


# A date-time a request carries: with its offset, and in years every store and reader of ours can hold. Outside
# them a value turned to UTC can leave Python's range (year 1 at +08:00 is year 0): asyncpg refused such a value
# with a 500, and written through a JSON parameter it made a row no one could read back.
Instant = Annotated[AwareDatetime, AfterValidator(_storable_year)]


def create_service_app(name: str, title: str, start: Callable[[], Awaitable[ServiceContainer[Any, Any]]],
                       routers: list[APIRouter], jwt_secret: str, access: Mapping[tuple[str, str], Access],
                       version: str = "1.0.0",
                       max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                       larger_bodies: Mapping[tuple[str, str], int] | None = None,
                       hand_parsed_bodies: tuple[type[BaseModel], ...] = ()) -> FastAPI:
    """`start` builds the container when the server starts (so tests can hand in their own). `access` declares
    who may call each route (shared/access.py): an undeclared route stops the app from being built.
    `max_body_bytes`: the body limit of every route (1 MB), enforced before authentication; `larger_bodies`:
    the few routes ((method, path) → bytes) allowed more, each checking its caller before it reads (`read_body`).
    `hand_parsed_bodies`: models of bodies a route parses itself (referenced from its `openapi_extra`)."""

    def started(container: ServiceContainer[Any, Any]) -> None:
        app.state.container = container
        # Bearer tokens are checked as the settings say (HS256 in dev/test, else the identity provider's JWKS).
        app.state.token_verifier = verifier = TokenVerifier.from_settings(container.settings)
        structlog.get_logger("auth").info("token_verification", mode=verifier.mode,
                                          issuer=verifier.policy.issuer, audience=verifier.policy.audience,
                                          denylist=str(verifier.denylist.path) if verifier.denylist else None)
        checks = {"database": database_check(container.pool),
                  "kafka": kafka_check(container.settings.kafka_bootstrap)}
        app.state.readiness = checks
        app.state.starting = False

    async def keep_starting(first_failure: Exception) -> None:
        """The database was away when the process started: serve the probes (not ready) and 503 meanwhile, and
        start as soon as it is back."""
        rider = RideOut()
        await rider.failed(first_failure)
        while True:
            try:
                container = await rider.call(start)
            except Exception as exc:  # noqa: BLE001 - e.g. a database not migrated yet: say so, keep trying
                log.error("start_failed", error_type=type(exc).__name__, error=str(exc)[:300])
                await rider.pause(rider.backoff.cap)
                continue
            started(container)
            return

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        starting: asyncio.Task[None] | None = None
        try:
            started(await start())
        except Exception as exc:
            if unavailable(exc) is None:
                raise
            app.state.starting = True
            app.state.readiness = {"database": _not_started}
            starting = asyncio.create_task(keep_starting(exc))
        try:
            yield
        finally:
            for task in (starting, getattr(app.state, "database_watch", None)):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if (container := getattr(app.state, "container", None)) is not None:
                await container.close()

    # Traces come from the official FastAPI instrumentation when tracing is on (shared/tracing.py); FastAPI's own
    # native telemetry would add a second server span per request to the same provider.
    app = FastAPI(title=title, version=version, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.jwt_secret = jwt_secret
    install_problem_handlers(app)
    install_unavailable_handlers(app)
    install_request_metrics(app, name)
    app.add_middleware(UntilStarted, state=app.state)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, larger=larger_bodies)

    every_router = [health_router(name, lambda: getattr(app.state, "readiness", {})), *routers]
    install_access(every_router, access)
    for router in every_router:
        app.include_router(router)
    _complete_openapi(app, hand_parsed_bodies)
    instrument_app(app, name)
    return app


def _complete_openapi(app: FastAPI, bodies: tuple[type[BaseModel], ...]) -> None:
    """The document FastAPI builds, plus the problems every route may answer (shared/problems.py) and the
    schemas of bodies parsed by hand, in the components where their references point."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = document_problems(build())
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in bodies:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas.setdefault(model.__name__, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def container_of(request: Request) -> Any:
    """FastAPI dependency: the running service's container (each service types it: `Annotated[XContainer,
    Depends(container_of)]`). async: a plain def dependency would run in a thread pool on every request."""
    return request.app.state.container
