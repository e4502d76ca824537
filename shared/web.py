"""The FastAPI application every service serves: problems, health, metrics, and its container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from shared.health import database_check, health_router, install_request_metrics, kafka_check
from shared.problems import install_problem_handlers
from shared.runtime import ServiceContainer


def create_service_app(name: str, title: str, start: Callable[[], Awaitable[ServiceContainer]],
                       routers: list[APIRouter], jwt_secret: str, version: str = "1.0.0") -> FastAPI:
    """`start` builds the container when the server starts (so tests can hand in their own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await start()
        app.state.container = container
        checks = {"database": database_check(container.pool),
                  "kafka": kafka_check(container.settings.kafka_bootstrap)}
        app.state.readiness = checks
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.jwt_secret = jwt_secret
    install_problem_handlers(app)
    install_request_metrics(app, name)

    app.include_router(health_router(name, lambda: getattr(app.state, "readiness", {})))
    for router in routers:
        app.include_router(router)
    return app


def container_of(request: Request) -> ServiceContainer:
    return request.app.state.container


Container = Annotated[ServiceContainer, Depends(container_of)]
