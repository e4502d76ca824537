"""Intake's HTTP API: translate requests into commands and domain errors into problems."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from pydantic import ValidationError

from services.intake.bootstrap import IntakeContainer, bootstrap
from services.intake.config import IntakeSettings
from services.intake.domain import commands as c
from services.intake.domain.model import Status, actions_allowed_in
from services.intake.entrypoints import schemas as s
from services.intake.entrypoints.access import ACCESS
from services.intake.entrypoints.attachments import PATH as ATTACHMENTS
from services.intake.entrypoints.attachments import build_attachments_router, upload_limit
from services.intake.entrypoints.deps import IntakeApp
from services.intake.entrypoints.hotline import build_hotline_router
from services.intake.entrypoints.open311 import build_open311_admin_router, build_open311_router
from services.intake.views import incident_view, list_categories, queued_incidents, search_incidents, visible_to
from shared.auth import Caller, Principal, current_principal
from shared.events.intake import Point
from shared.problems import Problem, problems, validation_problem
from shared.runtime import settle_heap
from shared.web import Instant, create_service_app

REPORT_OPENAPI: dict[str, Any] = {
    "parameters": [s.IDEMPOTENCY_HEADER],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/IncidentIn"}}}},
}



def to_command(body: Any, incident_id: uuid.UUID, actor: c.Actor) -> c.CaseCommand:
    """One HTTP action body → the matching command."""
    i, a = incident_id, actor
    match body:
        case s.SignIn():
            return c.SignIncident(i, a)
        case s.ProgressIn():
            return c.ReportProgress(i, a, note=body.note, attachments=tuple(body.attachments))
        case s.ReturnIn():
            return c.ReturnIncident(i, a, reason=body.reason, kind=body.kind)
        case s.ReferUpIn():
            return c.ReferUp(i, a, reason=body.reason)
        case s.RequestExtensionIn():
            return c.RequestExtension(i, a, amount=body.amount or 0, unit=body.unit, reason=body.reason)
        case s.DecideExtensionIn():
            return c.DecideExtension(i, a, approved=body.approved,
                                     amount=body.amount if body.amount is not None else body.working_days)
        case s.SuspendIn():
            return c.SuspendIncident(i, a, reason=body.reason, until=body.until)
        case s.RequestSuspensionIn():
            return c.RequestSuspension(i, a, reason=body.reason, until=body.until)
        case s.DecideSuspensionIn():
            return c.DecideSuspension(i, a, approved=body.approved, note=body.note)
        case s.ResumeIn():
            return c.ResumeIncident(i, a)
        case s.SubmitResultIn():
            return c.SubmitResult(i, a, result=body.result, attachments=tuple(body.attachments))
        case s.VerifyIn():
            return c.VerifyResult(i, a, passed=body.passed, note=body.note, attachments=tuple(body.attachments))
        case s.VisitIn():
            return c.RecordVisit(i, a, contacted=body.contacted, responded=body.responded,
                                 solved=body.solved, satisfied=body.satisfied)
        case s.ReopenIn():
            return c.ReopenIncident(i, a, reason=body.reason)
        case s.MergeIn():
            return c.MergeIncident(i, a, into=body.into)
        case s.RejectIn():
            return c.RejectIncident(i, a, reason=body.reason)
    raise Problem(422, f"unknown action {body!r}")


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["incidents"])

    @router.get("/categories")
    async def categories(container: IntakeApp) -> list[dict]:
        return await list_categories(container.pool)

    # The hot path of intake, so parsed by hand: FastAPI's parameter machinery (dependencies, header, body)
    # cost more CPU per report than the rest of the request. The document still shows the body and header.
    @router.post("/incidents", status_code=202, response_model=s.IncidentAccepted, openapi_extra=REPORT_OPENAPI,
                 responses=problems(401, 403, 409, 413))
    async def report(request: Request) -> Response:
        caller = await current_principal(request)
        raw = await request.body()
        try:
            body = s.IncidentIn.model_validate_json(raw)
        except ValidationError as exc:
            raise validation_problem(exc) from exc
        idempotency_key = s.idempotency_key(request.headers)
        _check_report_area(caller, body)
        cmd = c.ReportIncident(
            source=body.source, category=body.category, urgency=body.urgency, title=body.title,
            description=body.description,
            location=Point(lon=body.location.lon, lat=body.location.lat) if body.location else None,
            address=body.address, grid_code=body.grid_code,
            reporter_name=body.reporter.name if body.reporter else None,
            reporter_phone=body.reporter.phone if body.reporter else None,
            reported_at=body.reported_at, attachments=tuple(str(a) for a in body.attachments),
            actor=caller,
            idempotency_key=c.IdempotencyKey(caller.sub, idempotency_key, body.model_dump_json())
            if idempotency_key else None,
        )
        container: IntakeContainer = request.app.state.container
        incident = await container.bus.handle(cmd)
        accepted = s.IncidentAccepted(id=incident.id, status=Status.RECEIVED.value, received_at=incident.received_at)
        return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")

    @router.get("/incidents", response_model=s.IncidentPage)
    async def search(caller: Caller, container: IntakeApp,
                     status: Status | None = None,
                     category: str | None = Query(None, max_length=64),
                     grid_prefix: str | None = Query(None, pattern=r"^\d{1,18}$"),
                     since: Instant | None = None, until: Instant | None = None,
                     limit: int = Query(50, ge=1, le=500),
                     cursor: str | None = Query(None, max_length=200),
                     queue: s.QueueName | None = Query(None, description=s.QUEUE_DESCRIPTION),
                     q: str | None = Query(None, min_length=1, max_length=100,
                                           description="text inside the title, description or address (a "
                                                       "substring, any case; three characters or more use the "
                                                       "index), or a whole 12345 order number")) -> s.IncidentPage:
        after = s.decode_cursor(cursor) if cursor else None
        if queue is not None:
            if status is not None or since is not None or until is not None or q is not None:
                raise Problem(422, "queue= lists a queue as it stands: give no status, since, until or q with it",
                              errors=[{"field": "query.queue", "message": "not with status, since, until or q",
                                       "type": "queue"}])
            items = await queued_incidents(container.pool, queue=queue, category=category, grid_prefix=grid_prefix,
                                           area=caller.area, after=after, limit=limit)
        else:
            items = await search_incidents(
                container.pool, status=status.value if status else None, category=category,
                grid_prefix=grid_prefix, since=since, until=until, area=caller.area, after=after, limit=limit,
                text=q, now=container.clock.now())
        last = items[-1] if len(items) == limit else None
        return s.IncidentPage(items=items, next_cursor=s.encode_cursor(last["received_at"], last["id"])
                              if last else None)

    @router.get("/incidents/{incident_id}", response_model=s.IncidentOut, responses=problems(404))
    async def get_incident(incident_id: uuid.UUID, caller: Caller, container: IntakeApp) -> s.IncidentOut:
        view = await incident_view(container.pool, incident_id)
        if view is None or not visible_to(caller, view):
            raise Problem(404, f"no incident {incident_id}")
        if (view["hotline"] or {}).get("confidential") and caller.role not in ("supervisor", "leader", "admin"):
            view["reporter"] = None  # 是否保密: the citizen is shown to no one outside the centre
        return s.IncidentOut(**view, allowed_actions=actions_allowed_in(Status(view["status"])))

    @router.post("/incidents/{incident_id}/actions", response_model=s.ActionResult,
                 openapi_extra={"parameters": [s.IDEMPOTENCY_HEADER]}, responses=problems(403, 404, 409))
    async def act(incident_id: uuid.UUID, body: s.ActionIn, caller: Caller, container: IntakeApp,
                  request: Request, response: Response) -> s.ActionResult:
        """Take an action on the case. With an Idempotency-Key (a phone resending its offline queue), it is taken
        once: a resend with the same key and body answers what the first was answered (`Idempotent-Replayed`)."""
        command = to_command(body, incident_id, caller)
        key = s.idempotency_key(request.headers)
        if key is None:
            incident = await container.bus.handle(command)
            return s.ActionResult(id=incident.id, status=incident.status.value,
                                  allowed_actions=incident.allowed_actions())
        answer = await container.bus.handle(c.ActOnce(command, c.IdempotencyKey(
            caller.sub, key, f"{incident_id} {body.model_dump_json()}")))
        if answer.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return s.ActionResult(id=answer.incident_id, status=answer.status,
                              allowed_actions=list(answer.allowed_actions))

    @router.put("/incidents/{incident_id}/publication", responses=problems(403, 404))
    async def publish(incident_id: uuid.UUID, body: s.PublicationIn, caller: Caller,
                      container: IntakeApp) -> dict[str, Any]:
        """Show the case on the public Open311 feed (public reports are shown anyway) with the reply the public
        reads; the centre's to do (supervisor); a confidential 12345 order is refused (422)."""
        incident = await container.bus.handle(c.PublishIncident(incident_id, caller, reply=body.reply))
        return {"id": str(incident.id), "published_at": incident.published_at, "reply": incident.public_reply}

    return router


def _check_report_area(caller: Principal, body: s.IncidentIn) -> None:
    """A report lies in its reporter's area, whatever the reporter's role; only city-wide callers report anywhere.
    Intake knows no grid shapes, so a caller bound to an area names the grid (a point alone cannot be checked
    here: routing places it later)."""
    if "" in caller.area:
        return
    if body.grid_code is None:
        raise Problem(422, "a caller bound to an area names the report's grid_code (inside that area); a location "
                           "alone cannot be checked", errors=[{"field": "grid_code", "message": "required for a "
                                                               "caller bound to an area", "type": "missing"}])
    if not caller.sees(body.grid_code):
        raise Problem(403, f"grid {body.grid_code} is outside the caller's area: a report lies inside it")


def create_app(settings: IntakeSettings | None = None, container: IntakeContainer | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    async def start() -> IntakeContainer:
        started = container or await bootstrap(settings)
        settle_heap()  # the API under load: its requests in flight waited on the collector's passes over the rest
        return started

    routers = [build_router(), build_attachments_router(), build_hotline_router(), build_open311_router(),
               build_open311_admin_router()]
    return create_service_app("intake", "Intake: the case record", start, routers,
                              jwt_secret=settings.auth_jwt_secret.get_secret_value(),
                              larger_bodies={("POST", ATTACHMENTS): upload_limit(settings.attachments_max_bytes)},
                              hand_parsed_bodies=(s.IncidentIn, s.HotlineOrderIn, s.HotlineEventIn), access=ACCESS)
