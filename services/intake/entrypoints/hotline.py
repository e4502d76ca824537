"""The 12345 webhook: HMAC-signed work orders and 12345's events about them."""

from __future__ import annotations

import time
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError

from services.intake.domain import commands as c
from services.intake.domain.hotline import MappingRule
from services.intake.entrypoints import schemas as s
from services.intake.entrypoints.deps import IntakeApp
from services.intake.entrypoints.schemas import HotlineAccepted, HotlineEventIn, HotlineOrderIn
from services.intake.views import hotline_mapping
from shared.auth import Caller, require_role
from shared.problems import Problem, problems, validation_problem
from shared.signing import SignatureCheck, SignatureError, request_target

M = TypeVar("M", bound=BaseModel)


async def verified_body(request: Request, container: IntakeApp) -> bytes:
    """The raw body, once its signature is right for this method, path and body, fresh and not seen before (401
    otherwise; a malformed header is a 401 too, never a 500). The secret is INTAKE_HOTLINE_SECRET: what 12345 signs
    with towards us, never the one we sign our callbacks to it with (notifications' own); during a rotation,
    INTAKE_HOTLINE_SECRET_PREVIOUS as well."""
    body = await request.body()
    settings = container.settings
    check = SignatureCheck(settings.hotline_secret.get_secret_value(),
                           previous=settings.hotline_secret_previous.get_secret_value())
    signature = request.headers.get("x-hotline-signature")
    try:
        check.verify(request.method, request_target(request.scope), request.headers.get("x-hotline-timestamp"),
                     signature, body, time.time())
    except SignatureError as exc:
        raise Problem(401, str(exc), title="Bad signature") from exc
    await container.bus.handle(c.RememberHotlineSignature(str(signature).lower()))
    return body


async def signed_body(request: Request, container: IntakeApp, model: type[M]) -> M:
    """The request's body as `model`, once its signature is checked (401), else 422 naming the fields."""
    body = await verified_body(request, container)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_problem(exc) from exc


def build_hotline_router() -> APIRouter:
    router = APIRouter(prefix="/v1/hotline", tags=["12345 hotline"])

    @router.post("/orders", status_code=202, response_model=HotlineAccepted, responses=problems(401),
                 openapi_extra={"requestBody": {"content": {"application/json": {
                     "schema": HotlineOrderIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def order(request: Request, response: Response, container: IntakeApp) -> HotlineAccepted:
        order = await signed_body(request, container, HotlineOrderIn)
        cmd = c.AcceptHotlineOrder(
            order_no=order.order_no, title=order.title, content=order.content, category=order.category,
            urgency=order.urgency, received_at=order.received_at, address=order.address, lon=order.lon,
            lat=order.lat, coord_sys=order.coord_sys, citizen_name=order.citizen.name if order.citizen else None,
            citizen_phone=order.citizen.phone if order.citizen else None, deadline=order.deadline,
            confidential=order.confidential, nature=order.nature, channel=order.channel,
            related_order_no=order.related_order_no, attachments=tuple(str(a) for a in order.attachments))
        incident, created = await container.bus.handle(cmd)
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return HotlineAccepted(id=incident.id, order_no=order.order_no, status=incident.status.value,
                               category=incident.category, urgency=incident.urgency)

    @router.post("/orders/{order_no}/events", responses=problems(401, 403, 404, 409),
                 openapi_extra={"requestBody": {"content": {"application/json": {
                     "schema": HotlineEventIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def order_event(order_no: str, request: Request, container: IntakeApp) -> dict:
        event = await signed_body(request, container, HotlineEventIn)
        cmd = c.ApplyHotlineEvent(order_no=order_no, event_id=event.event_id, kind=event.kind, note=event.note,
                                  approved=event.approved, amount=event.amount, contacted=event.contacted,
                                  responded=event.responded, solved=event.solved, satisfied=event.satisfied)
        incident, applied = await container.bus.handle(cmd)
        return {"id": str(incident.id), "status": incident.status.value, "applied": applied}

    @router.get("/category-map", response_model=s.HotlineMapping)
    async def category_map(caller: Caller, container: IntakeApp) -> s.HotlineMapping:
        rules = await hotline_mapping(container.pool)
        return s.HotlineMapping(rules=[s.MappingRuleIn(kind=r.kind, value=r.value, category=r.category)
                                       for r in rules])

    @router.put("/category-map", response_model=s.HotlineMapping, responses=problems(403))
    async def replace_category_map(body: s.HotlineMapping, caller: Caller, container: IntakeApp) -> s.HotlineMapping:
        """Load the city's mapping of 12345 诉求分类 codes and names to our categories, replacing the current one;
        a row naming an unknown category (or a code or name twice) is a 422 naming the row, and nothing changes."""
        require_role(caller, "admin")
        cmd = c.ReplaceHotlineMapping(tuple(MappingRule(r.kind, r.value, r.category) for r in body.rules))
        rules = await container.bus.handle(cmd)
        return s.HotlineMapping(rules=[s.MappingRuleIn(kind=r.kind, value=r.value, category=r.category)
                                       for r in rules])

    return router
