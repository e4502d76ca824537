"""Notifications' HTTP API: the delivery log and the supervisors' live alert stream (SSE)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, FastAPI, Header, Query, Request
from sse_starlette.sse import EventSourceResponse

from services.notifications.adapters.repository import alerts_after, list_deliveries
from services.notifications.bootstrap import bootstrap
from services.notifications.config import NotificationsSettings
from shared.auth import Caller
from shared.problems import Problem
from shared.runtime import ServiceContainer
from shared.web import Container, create_service_app


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notifications"])

    @router.get("/deliveries")
    async def deliveries(caller: Caller, container: Container, incident_id: uuid.UUID | None = None,
                         channel: Literal["sms", "email", "webhook", "sse"] | None = None,
                         status: Literal["pending", "sent", "failed", "dead"] | None = None,
                         limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
        if "" not in caller.area and caller.role not in ("admin", "supervisor", "leader"):
            raise Problem(403, "the delivery log is for the command centre")
        return await list_deliveries(container.pool, incident_id, channel, status, limit)

    @router.get("/alerts/stream")
    async def stream(request: Request, caller: Caller, container: Container,
                     last_event_id: str | None = Header(None)) -> EventSourceResponse:
        try:
            start_after = int(last_event_id) if last_event_id else 0
        except ValueError as exc:
            raise Problem(422, "Last-Event-ID must be an alert id (an integer)") from exc

        async def events() -> AsyncIterator[dict]:
            last = start_after
            while not await request.is_disconnected():
                rows = await alerts_after(container.pool, last)
                for row in rows:
                    last = row["id"]
                    if caller.sees(row["grid_code"]) or "" in caller.area:
                        yield {"id": str(row["id"]), "event": row["event_type"],
                               "data": json.dumps({"incident_id": str(row["incident_id"]),
                                                   "grid_code": row["grid_code"], **row["payload"]},
                                                  ensure_ascii=False, default=str)}
                if not rows:
                    await asyncio.sleep(0.25)

        return EventSourceResponse(events(), ping=15)

    return router


def create_app(settings: NotificationsSettings | None = None,
               container: ServiceContainer | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()

    async def start() -> ServiceContainer:
        return container or await bootstrap(settings)

    return create_service_app("notifications", "Notifications: telling people", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value())
