"""Notifications' HTTP API: the delivery log, the supervisors' live alert stream (SSE), subscriptions, the
contacts directory and the message templates. Writes go through the bus as commands; reads through views.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator
from sse_starlette.sse import EventSourceResponse

from services.notifications import views
from services.notifications.bootstrap import NAME, NotificationsContainer, bootstrap
from services.notifications.config import NotificationsSettings
from services.notifications.domain import delivery
from services.notifications.domain.alerts import CENTRE_ALERTS
from services.notifications.domain.commands import (
    DeleteContact,
    DeleteSubscription,
    EditTemplate,
    PutContact,
    PutSubscription,
    RotateSubscriptionSecret,
)
from services.notifications.domain.contacts import Person
from services.notifications.domain.errors import UnknownTemplate
from services.notifications.domain.templates import TEMPLATES, sms_segments
from services.notifications.entrypoints.access import ACCESS
from services.notifications.entrypoints.alert_fanout import AlertFanout, AlertStreamResponse
from shared.actor import covers
from shared.auth import Caller, require_role
from shared.events import EVENT_MODELS
from shared.problems import Problem, problems
from shared.web import container_of, create_service_app

NotificationsApp = Annotated[NotificationsContainer, Depends(container_of)]

Channel = Literal["sms", "email", "webhook", "sse"]
PHONE = r"^(\+?86)?1[3-9]\d{9}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Territorial units by code (city 4, district 6, street 9, community 12, grid 15 digits); departments by unit id.
UNIT_CODE = r"^(\d{4}|\d{6}|\d{9}|\d{12}|\d{15}|[A-Za-z][A-Za-z0-9_.:-]{0,99})$"
Level = Literal["reminder", "yellow_card", "red_card", "leader"]


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(alias="to", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE)
    email: str | None = Field(None, max_length=200, pattern=EMAIL)
    webhook_url: AnyHttpUrl | None = None
    role: Literal["supervisor", "leader", "community", "street", "department", "gridworker", "admin"]
    area: list[Annotated[str, Field(pattern=r"^\d{0,18}$")]] = Field(min_length=1, max_length=100)
    event_types: list[str] = Field(
        min_length=1, max_length=50,
        description="bus event types (e.g. supervision.escalation.raised, intake.incident.urged) or the centre's "
                    "alerts: " + ", ".join(f"{name} ({what})" for name, what in CENTRE_ALERTS.items()))
    levels: list[Level] = Field(default_factory=list)
    channels: list[Channel] = Field(min_length=1, max_length=4)
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _coherent(self) -> SubscriptionIn:
        unknown = [t for t in self.event_types if t not in EVENT_MODELS and t not in CENTRE_ALERTS]
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        needs = {"sms": self.phone, "email": self.email, "webhook": self.webhook_url}
        missing = [channel for channel in self.channels if channel in needs and not needs[channel]]
        if missing:
            raise ValueError(f"channels {', '.join(missing)} need their address (phone, email, webhook_url)")
        return self


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    phone: str | None = Field(None, pattern=PHONE)
    email: str | None = Field(None, max_length=200, pattern=EMAIL)

    @model_validator(mode="after")
    def _reachable(self) -> PersonIn:
        if not (self.phone or self.email):
            raise ValueError("a contact needs a phone or an email")
        return self

    def person(self) -> Person:
        return Person(self.name, self.phone, self.email)


class ContactIn(BaseModel):
    """Who answers for a unit: its liaison desk (takes the unit's case SMS), its head (单位负责人, told from
    黄牌督办 on) and its 分管领导/督办 officer (told from 红牌督办 on, also for the units below it)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    liaison: PersonIn | None = None
    leader: PersonIn | None = None
    supervisor: PersonIn | None = None

    @model_validator(mode="after")
    def _someone(self) -> ContactIn:
        if not (self.liaison or self.leader or self.supervisor):
            raise ValueError("a contact needs at least one of liaison, leader, supervisor")
        return self


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=1000)


def _template_view(name: str, body: str, updated_by: str | None, updated_at: datetime | None) -> dict[str, Any]:
    spec = TEMPLATES[name]
    view: dict[str, Any] = {"name": name, "channel": spec.channel, "description": spec.description, "body": body,
                            "placeholders": sorted(spec.placeholders), "default": spec.default,
                            "updated_by": updated_by, "updated_at": updated_at}
    if spec.channel == "sms":  # what the filled-in text costs is the editor's business: show the shape
        view["segments_without_values"] = len(sms_segments(body))
    return view


def _stored_template_view(name: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    if stored is None:
        return _template_view(name, TEMPLATES[name].default, None, None)
    return _template_view(name, stored["body"], stored["updated_by"], stored["updated_at"])


def _person(given: PersonIn | None) -> Person | None:
    return given.person() if given is not None else None


def build_router(fanout: AlertFanout | None = None) -> APIRouter:
    fanout = fanout or AlertFanout()
    router = APIRouter(prefix="/v1", tags=["notifications"])

    @router.get("/deliveries", responses=problems(403))
    async def deliveries(caller: Caller, container: NotificationsApp, incident_id: uuid.UUID | None = None,
                         channel: Literal["sms", "email", "webhook", "sse"] | None = None,
                         status: Literal["pending", "sent", "failed", "dead"] | None = None,
                         limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        require_role(caller, "admin", "supervisor", "leader")  # the command centre's log, of its own area
        return await views.deliveries(container.pool, incident_id, channel, status, limit, caller.area)

    @router.put("/subscriptions/{sub_id}", responses=problems(403, 422), description=(
        "Create or replace a subscription. A webhook_url must be https outside dev and test and reach only public "
        "addresses (422 otherwise; checked again at every send). A new subscription gets its own webhook signing "
        "secret (X-Grid-Signature), returned as `secret` in this response only: keep it, it is never shown again "
        "(rotate it with POST /v1/subscriptions/{sub_id}/secret)."))
    async def put_sub(sub_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")], body: SubscriptionIn,
                      caller: Caller, container: NotificationsApp) -> dict[str, Any]:
        require_role(caller, "admin", "supervisor")
        quiet = body.quiet_hours
        secret = await container.bus.handle(PutSubscription(
            sub_id=sub_id, name=body.name, role=body.role, area=tuple(body.area), event_types=tuple(body.event_types),
            channels=tuple(body.channels), levels=tuple(body.levels), phone=body.phone, email=body.email,
            webhook_url=str(body.webhook_url) if body.webhook_url else None,
            quiet_hours=delivery.QuietHours(quiet.start, quiet.end) if quiet else None, caller_area=caller.area))
        shown = {"secret": secret} if secret is not None else {}
        return {"id": sub_id, **body.model_dump(mode="json", by_alias=True), **shown}

    @router.post("/subscriptions/{sub_id}/secret", responses=problems(403, 404), description=(
        "A new webhook signing secret for the subscription, replacing the old one at once; returned this once."))
    async def rotate_sub_secret(sub_id: str, caller: Caller, container: NotificationsApp) -> dict[str, str]:
        require_role(caller, "admin", "supervisor")
        secret = await container.bus.handle(RotateSubscriptionSecret(sub_id, caller_area=caller.area))
        return {"id": sub_id, "secret": secret}

    @router.get("/subscriptions", responses=problems(403))
    async def subs(caller: Caller, container: NotificationsApp) -> list[dict[str, Any]]:
        require_role(caller, "admin", "supervisor")
        return await views.subscriptions(container.pool, caller.area)

    @router.get("/subscriptions/{sub_id}", responses=problems(403, 404))
    async def get_sub(sub_id: str, caller: Caller, container: NotificationsApp) -> dict[str, Any]:
        require_role(caller, "admin", "supervisor")
        found = await views.subscription(container.pool, sub_id)
        if found is None or not all(covers(caller.area, prefix) for prefix in found["area"]):
            raise Problem(404, f"no subscription {sub_id}")  # another area's is as if absent
        return found

    @router.delete("/subscriptions/{sub_id}", status_code=204, responses=problems(403, 404))
    async def delete_sub(sub_id: str, caller: Caller, container: NotificationsApp) -> Response:
        require_role(caller, "admin", "supervisor")
        await container.bus.handle(DeleteSubscription(sub_id, caller_area=caller.area))
        return Response(status_code=204)

    @router.put("/contacts/{unit_code}", responses=problems(403))
    async def put_unit_contact(unit_code: Annotated[str, Path(pattern=UNIT_CODE)], body: ContactIn,
                               caller: Caller, container: NotificationsApp) -> dict[str, Any]:
        require_role(caller, "admin", "supervisor")
        await container.bus.handle(PutContact(
            unit_code=unit_code, name=body.name, liaison=_person(body.liaison), leader=_person(body.leader),
            supervisor=_person(body.supervisor), caller_area=caller.area))
        return {"unit_code": unit_code, **body.model_dump(mode="json", exclude_none=True)}

    @router.get("/contacts", responses=problems(403))
    async def unit_contacts(caller: Caller, container: NotificationsApp,
                            prefix: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.:-]{0,100}$")] = "",
                            limit: int = Query(500, ge=1, le=5000)) -> list[dict[str, Any]]:
        require_role(caller, "admin", "supervisor", "leader")
        return await views.contacts(container.pool, prefix, limit, tuple(caller.area))

    @router.get("/contacts/{unit_code}", responses=problems(403, 404))
    async def unit_contact(unit_code: Annotated[str, Path(pattern=UNIT_CODE)], caller: Caller,
                           container: NotificationsApp) -> dict[str, Any]:
        require_role(caller, "admin", "supervisor", "leader")
        found = await views.contact(container.pool, unit_code)
        if found is None or not caller.sees(unit_code):
            raise Problem(404, f"no contact for unit {unit_code}")
        return found

    @router.delete("/contacts/{unit_code}", status_code=204, responses=problems(403, 404))
    async def delete_unit_contact(unit_code: Annotated[str, Path(pattern=UNIT_CODE)], caller: Caller,
                                  container: NotificationsApp) -> Response:
        require_role(caller, "admin", "supervisor")
        await container.bus.handle(DeleteContact(unit_code, caller_area=caller.area))
        return Response(status_code=204)

    @router.get("/templates", responses=problems(403))
    async def templates(caller: Caller, container: NotificationsApp) -> list[dict[str, Any]]:
        require_role(caller, "admin", "supervisor")
        stored = await views.templates(container.pool)
        return [_stored_template_view(name, stored.get(name)) for name in TEMPLATES]

    @router.get("/templates/{name}", responses=problems(403, 404))
    async def template(name: str, caller: Caller, container: NotificationsApp) -> dict[str, Any]:
        require_role(caller, "admin", "supervisor")
        if name not in TEMPLATES:
            raise UnknownTemplate(name, list(TEMPLATES))
        return _stored_template_view(name, (await views.templates(container.pool)).get(name))

    @router.put("/templates/{name}", responses=problems(403, 404))
    async def edit_template(name: str, body: TemplateIn, caller: Caller, container: NotificationsApp
                            ) -> dict[str, Any]:
        require_role(caller, "admin")
        stored = await container.bus.handle(EditTemplate(name, body.body, by=caller.sub))
        return _template_view(name, stored.body, stored.updated_by, stored.updated_at)

    @router.get("/alerts/stream", responses=problems(403, 429), description=(
        "Server-Sent Events for the caller's area, resumable with Last-Event-ID; the centre's roles only (admin, "
        "supervisor, leader), at most NOTIFICATIONS_SSE_MAX_STREAMS_PER_CALLER streams per caller (429 with "
        "Retry-After beyond). Event names: supervision.light.changed, supervision.escalation.raised, "
        "intake.incident.urged, routing.incident.assigned (a case with 协办 units) and the centre's alerts "
        + ", ".join(CENTRE_ALERTS) + "."))
    async def stream(caller: Caller, container: NotificationsApp,
                     last_event_id: str | None = Header(None)) -> EventSourceResponse:
        require_role(caller, "admin", "supervisor", "leader")
        if last_event_id and not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18):
            raise Problem(422, "Last-Event-ID must be an alert id (an integer)",
                          errors=[{"field": "last-event-id", "message": "not an alert id", "type": "int_parsing"}])
        fanout.bind(container.pool)
        # Served from the process's one fan-out: the missed alerts from the database, then the live ones.
        subscription = await fanout.subscribe(caller.sub, caller.area, int(last_event_id or 0))
        return AlertStreamResponse(subscription, ping=15)

    return router


def create_app(settings: NotificationsSettings | None = None,
               container: NotificationsContainer | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()

    fanout = AlertFanout(poll_seconds=settings.sse_poll_seconds, gap_grace_seconds=settings.sse_gap_grace_seconds,
                         max_per_caller=settings.sse_max_streams_per_caller, max_streams=settings.sse_max_streams)

    async def start() -> NotificationsContainer:
        started = container or await bootstrap(settings)
        fanout.bind(started.pool)
        started.closers.insert(0, fanout.close)  # the streams end before the pool closes
        return started

    app = create_service_app(NAME, "Notifications: telling people", start, [build_router(fanout)],
                             jwt_secret=settings.auth_jwt_secret.get_secret_value(), access=ACCESS)
    app.state.alert_fanout = fanout
    return app
