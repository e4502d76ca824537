"""Supervision's HTTP API: clocks, policies, the virtual clock."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services.supervision.adapters.repository import clocks_of_incident, list_policies
from services.supervision.bootstrap import bootstrap
from services.supervision.config import SupervisionSettings
from shared.auth import Caller, require_role
from shared.clock import VirtualClock
from shared.problems import Problem
from shared.runtime import ServiceContainer
from shared.web import Container, create_service_app


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(gt=0, le=366 * 24 * 3600)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["supervision"])

    @router.get("/clock")
    async def get_clock(container: Container) -> dict:
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.post("/clock/advance")
    async def advance(body: AdvanceIn, caller: Caller, container: Container) -> dict:
        clock = container.clock
        if not isinstance(clock, VirtualClock):
            raise Problem(404, "the clock is real; advancing needs CLOCK_MODE=virtual")
        require_role(caller, "admin", "supervisor")
        anchor = clock.advanced(body.seconds)
        await container.extras["clock_store"].save(anchor)
        clock.set_anchor(anchor)
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.get("/clocks/{incident_id}")
    async def get_clock_of(incident_id: uuid.UUID, caller: Caller, container: Container) -> dict:
        clocks = await clocks_of_incident(container.pool, incident_id)
        visible = [c for c in clocks if caller.sees(c.grid_code) or "" in caller.area]
        if not visible:
            raise Problem(404, f"no clock for incident {incident_id}")
        now = container.clock.now()
        current = next((c for c in reversed(visible) if c.running), visible[-1])
        return {"incident_id": str(incident_id), "phase": current.phase, "light": current.light,
                "started_at": current.started_at, "yellow_at": current.yellow_at, "due_at": current.due_at,
                "paused": current.paused_at is not None,
                "extension_working_days": current.extension_amount if current.limit_unit == "working_days" else 0,
                "extension": {"amount": current.extension_amount, "unit": current.limit_unit},
                "due_version": current.due_version, "level": current.level,
                "remaining_seconds": round(current.remaining_seconds(now), 3), "running": current.running,
                "history": [{"phase": c.phase, "cycle": c.cycle, "light": c.light, "level": c.level,
                             "started_at": c.started_at, "due_at": c.due_at, "stopped_at": c.stopped_at}
                            for c in visible]}

    @router.get("/policies")
    async def policies(caller: Caller, container: Container) -> list[dict]:
        return await list_policies(container.pool)

    return router


def create_app(settings: SupervisionSettings | None = None,
               container: ServiceContainer | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()

    async def start() -> ServiceContainer:
        return container or await bootstrap(settings)

    return create_service_app("supervision", "Supervision: clocks, lights, 督办", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value())
