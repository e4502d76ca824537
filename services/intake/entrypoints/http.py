"""Intake's HTTP API: translate requests into commands and domain errors into problems."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI

from services.intake.adapters.repository import incident_view, list_categories
from services.intake.bootstrap import bootstrap
from services.intake.config import IntakeSettings
from services.intake.domain.commands import Actor, ReportIncident, SignIncident
from services.intake.domain.model import (
    ALLOWED_ACTIONS,
    IllegalTransition,
    NotPermitted,
    Status,
    UnknownCategory,
)
from services.intake.entrypoints.schemas import ActionIn, IncidentAccepted, IncidentIn, IncidentOut
from services.intake.service_layer import handlers
from shared.auth import Caller, Principal
from shared.events.intake import Point
from shared.problems import Problem
from shared.runtime import ServiceContainer
from shared.web import Container, create_service_app


def domain_problem(exc: Exception) -> Problem:
    if isinstance(exc, IllegalTransition):
        return Problem(409, str(exc), title="Illegal lifecycle move", status_value=exc.status.value,
                       allowed_actions=exc.allowed)
    if isinstance(exc, NotPermitted):
        return Problem(403, str(exc))
    if isinstance(exc, UnknownCategory):
        return Problem(422, str(exc), errors=[{"field": "category", "message": str(exc),
                                                "type": "unknown_category"}])
    if isinstance(exc, handlers.IncidentNotFound):
        return Problem(404, str(exc))
    raise exc


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["incidents"])

    @router.get("/categories")
    async def categories(container: Container) -> list[dict]:
        return await list_categories(container.pool)

    @router.post("/incidents", status_code=202, response_model=IncidentAccepted)
    async def report(body: IncidentIn, caller: Caller, container: Container) -> IncidentAccepted:
        if body.grid_code and not caller.sees(body.grid_code):
            raise Problem(403, "grid_code is outside the caller's area")
        cmd = ReportIncident(
            source=body.source, category=body.category, urgency=body.urgency, title=body.title,
            description=body.description,
            location=Point(lon=body.location.lon, lat=body.location.lat) if body.location else None,
            address=body.address, grid_code=body.grid_code,
            reporter_name=body.reporter.name if body.reporter else None,
            reporter_phone=body.reporter.phone if body.reporter else None,
            reported_at=body.reported_at, attachments=tuple(str(a) for a in body.attachments),
            actor=Actor(caller.sub, caller.role, caller.unit),
        )
        try:
            incident = await handlers.report_incident(cmd, container.uow())
        except UnknownCategory as exc:
            raise domain_problem(exc) from exc
        return IncidentAccepted(id=incident.id, status=incident.status.value, received_at=incident.received_at)

    @router.get("/incidents/{incident_id}", response_model=IncidentOut)
    async def get_incident(incident_id: uuid.UUID, caller: Caller, container: Container) -> IncidentOut:
        view = await incident_view(container.pool, incident_id)
        if view is None or not _visible(caller, view):
            raise Problem(404, f"no incident {incident_id}")
        return IncidentOut(**view, allowed_actions=list(ALLOWED_ACTIONS[Status(view["status"])]))

    @router.post("/incidents/{incident_id}/actions")
    async def act(incident_id: uuid.UUID, body: ActionIn, caller: Caller, container: Container) -> dict:
        actor = Actor(caller.sub, caller.role, caller.unit)
        try:
            incident = await handlers.sign_incident(SignIncident(incident_id, actor), container.uow())
        except (IllegalTransition, NotPermitted, handlers.IncidentNotFound) as exc:
            raise domain_problem(exc) from exc
        return {"id": str(incident.id), "status": incident.status.value,
                "allowed_actions": incident.allowed_actions()}

    return router


def _visible(caller: Principal, view: dict) -> bool:
    # Cases not yet located belong to the centre: only city-wide callers see them.
    return caller.sees(view["grid_code"]) if view["grid_code"] else "" in caller.area


def create_app(settings: IntakeSettings | None = None, container: ServiceContainer | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    async def start() -> ServiceContainer:
        return container or await bootstrap(settings)

    return create_service_app("intake", "Intake: the case record", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value())


