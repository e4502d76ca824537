"""Open311 GeoReport v2 façade (DOMAIN.md §7) over the same case record: services, requests.

Formats: `.json` and `.xml` (the spec's default). Writes are form-encoded with an `api_key`. Errors come in the
spec's own form, not as problem+json: a list of `{code, description}` (`<errors><error>` in XML), with the
spec's statuses: 400 for a request it cannot take, 403 for a key it does not know, 404 for nothing by that id.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from services.intake.domain import commands as c
from services.intake.domain.model import CLOSED_FOR_PUBLIC, Status
from services.intake.entrypoints.deps import IntakeApp
from services.intake.entrypoints.schemas import CHINA_LAT, CHINA_LON, PHONE_PATTERN
from services.intake.views import list_categories, open311_requests
from shared.auth import Caller, require_role
from shared.errors import DomainError
from shared.events.intake import Point
from shared.problems import Problem, domain_problem, problems, unstorable_problem, validation_problem
from shared.web import Instant

Format = Literal["json", "xml"]
STATUS_ZH = {Status.RECEIVED: "已受理", Status.ASSIGNED: "已派遣", Status.IN_PROGRESS: "办理中",
             Status.SUSPENDED: "挂起", Status.RETURNED: "待改派", Status.PENDING_VERIFICATION: "待核查",
             Status.CLOSED: "已办结", Status.VISITED: "已回访", Status.MERGED: "已合并", Status.REJECTED: "不予立案"}
MAX_RANGE = timedelta(days=90)


class Open311Request(BaseModel):
    """The form fields of `POST requests` (GeoReport v2)."""

    model_config = ConfigDict(extra="ignore")
    api_key: str = Field(min_length=1, max_length=200)
    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(None, ge=CHINA_LAT[0], le=CHINA_LAT[1])
    long: float | None = Field(None, ge=CHINA_LON[0], le=CHINA_LON[1])
    address_string: str | None = Field(None, max_length=500)
    description: str = Field("", max_length=4000)
    first_name: str | None = Field(None, max_length=50)
    last_name: str | None = Field(None, max_length=50)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    media_url: AnyHttpUrl | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="the public client the key is for")


# Marks an operation whose errors are the spec's list, so the app's document adds no problem+json 422 to it.
SPEC_ERRORS = {"x-errors": "GeoReport v2 error list"}
ERRORS_SCHEMA = {"type": "array", "items": {"type": "object", "required": ["code", "description"], "properties": {
    "code": {"type": "integer"}, "description": {"type": "string"}}}}
ERROR_TITLES = {400: "Bad Request: a field is missing or wrong", 403: "Forbidden: api_key not issued",
                404: "Not Found", 429: "Too Many Requests: the api_key's share a minute is used (see Retry-After)"}


def documented(success: int, *refusals: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an Open311 route: each answer in both formats, errors in the spec's own list."""
    answers: dict[int | str, dict[str, Any]] = {
        success: {"description": "OK", "content": {"application/json": {}, "text/xml": {}}}}
    for status in (400, *refusals):
        answers[status] = {"description": ERROR_TITLES[status],
                           "content": {"application/json": {"schema": ERRORS_SCHEMA}, "text/xml": {}}}
    return answers


# What XML 1.0 cannot carry (C0 controls but tab, newline and return; unpaired surrogates; U+FFFE, U+FFFF): one
# such character in one public description would make every listing invalid XML.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return NOT_XML.sub("", str(value))


def render(items: list[dict[str, Any]], root: str, item: str, fmt: Format, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    if fmt == "json":
        return JSONResponse(items, status_code=status, headers=headers)
    tree = ET.Element(root)
    for entry in items:
        node = ET.SubElement(tree, item)
        for key, value in entry.items():
            ET.SubElement(node, key).text = xml_text(value)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(tree, encoding="utf-8")
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8", headers=headers)


def error(fmt: Format, problem: Problem) -> Response:
    """The spec's error list (`<errors>` in XML). A request we cannot take is the spec's 400, whatever made it
    so (a field's validation is our 422 elsewhere); a 429 keeps its Retry-After."""
    status = 400 if problem.status == 422 else problem.status
    return render([{"code": status, "description": problem.detail}], "errors", "error", fmt, status,
                  headers=problem.headers)


def format_of(request: Request) -> Format:
    return "xml" if request.url.path.endswith(".xml") else "json"


class Open311Route(APIRoute):
    """Every refusal of an Open311 route (its own, the domain's, FastAPI's validation of the path and query) in
    the spec's error form and the format the path asks for; a bug stays a bug (logged, 500)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return error(format_of(request), validation_problem(exc))
            except DomainError as exc:
                return error(format_of(request), domain_problem(exc))
            except asyncpg.DataError as exc:  # a value Postgres cannot store (shared/problems.py's own case)
                if (problem := unstorable_problem(exc)) is None:
                    raise
                return error(format_of(request), problem)
            except Problem as exc:
                if exc.status == 413:  # the body limit is the server's, not the spec's: problem+json as everywhere
                    raise
                return error(format_of(request), exc)
            except HTTPException as exc:  # a body Starlette could not parse as a form
                return error(format_of(request), Problem(exc.status_code, str(exc.detail)))

        return answer


def service_of(category: dict[str, Any]) -> dict[str, Any]:
    return {"service_code": category["code"], "service_name": category["name_zh"],
            "description": category["name_en"], "metadata": False, "type": "realtime",
            "keywords": category["code"].replace(".", ","), "group": category["code"].split(".")[0]}


def request_of(row: dict[str, Any]) -> dict[str, Any]:
    """A case as the public sees it: the state and the reply meant for them, never the unit's result. What the
    public reported is shown as they reported it (its text, place and photo); a case the centre published
    from elsewhere shows its title, its address and a point rounded to about 100 m, not its reporter's words
    or photos."""
    status = Status(row["status"])
    owner = row["owner"] or {}
    notes = STATUS_ZH[status] + (f"：{row['public_reply']}" if row["public_reply"] else "")
    from_public = row["source"] == "public"
    media = row["attachments"][0] if row["attachments"] and from_public else None
    lat, lon = row["lat"], row["lon"]
    if not from_public and lat is not None and lon is not None:
        lat, lon = round(lat, 3), round(lon, 3)
    return {"service_request_id": str(row["id"]), "status": "closed" if status in CLOSED_FOR_PUBLIC else "open",
            "status_notes": notes, "service_name": row["name_zh"], "service_code": row["category"],
            "description": (row["description"] or row["title"]) if from_public else row["title"],
            "agency_responsible": owner.get("unit_name"),
            "service_notice": None, "requested_datetime": row["received_at"].isoformat(),
            "updated_datetime": row["updated_at"].isoformat(), "expected_datetime": _expected(row),
            "address": row["address"], "address_id": None, "zipcode": None, "lat": lat, "long": lon,
            "media_url": media}


def _expected(row: dict[str, Any]) -> str | None:
    """When the case is due: the deadline its 12345 order set, while the case is open. (Supervision's own due
    times are not known to intake yet: it does not consume supervision.alerts.v1.)"""
    deadline = row["deadline"]
    return deadline.isoformat() if deadline and Status(row["status"]) not in CLOSED_FOR_PUBLIC else None


def build_open311_router() -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], route_class=Open311Route)

    @router.get("/services.{fmt}", responses=documented(200), openapi_extra=SPEC_ERRORS)
    async def services(container: IntakeApp, fmt: Format = Path()) -> Response:
        return render([service_of(cat) for cat in await list_categories(container.pool)], "services", "service",
                      fmt)

    @router.get("/services/{code}.{fmt}", responses=documented(200, 404), openapi_extra=SPEC_ERRORS)
    async def service_definition(code: str, container: IntakeApp, fmt: Format = Path()) -> Response:
        if not any(cat["code"] == code for cat in await list_categories(container.pool)):
            raise Problem(404, f"no service {code!r}")
        if fmt == "json":
            return JSONResponse({"service_code": code, "attributes": []})
        return render([{"service_code": code}], "service_definition", "service", fmt)

    @router.post("/requests.{fmt}", status_code=201, responses={**documented(201, 403, 429), **problems(413)},
                 openapi_extra={**SPEC_ERRORS, "requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": Open311Request.model_json_schema()}}}})
    async def create_request(request: Request, container: IntakeApp, fmt: Format = Path()) -> Response:
        form = await request.form()
        try:
            body = Open311Request.model_validate({k: v for k, v in form.items() if v != ""})
        except ValidationError as exc:
            raise validation_problem(exc) from exc
        name = " ".join(p for p in (body.last_name, body.first_name) if p) or None
        cmd = c.ReportIncident(
            source="public", category=body.service_code, urgency="normal",
            title=(body.description or body.service_code)[:60], description=body.description,
            location=Point(lon=body.long, lat=body.lat) if body.lat is not None and body.long is not None else None,
            address=body.address_string, reporter_name=name, reporter_phone=body.phone,
            attachments=(str(body.media_url),) if body.media_url else ())
        incident = await container.bus.handle(c.SubmitPublicRequest(body.api_key, cmd))
        return render([{"service_request_id": str(incident.id), "service_notice": "已受理，感谢您的反映",
                        "account_id": None}], "service_requests", "request", fmt, 201)

    @router.get("/requests.{fmt}", responses=documented(200), openapi_extra=SPEC_ERRORS)
    async def list_requests(container: IntakeApp, fmt: Format = Path(),
                            service_request_id: str | None = Query(None, max_length=2000),
                            service_code: str | None = Query(None, max_length=2000),
                            start_date: Instant | None = None, end_date: Instant | None = None,
                            status: Literal["open", "closed"] | None = None) -> Response:
        try:
            ids = [uuid.UUID(i) for i in service_request_id.split(",")] if service_request_id else None
        except ValueError:
            raise Problem(422, "service_request_id must be comma-separated ids") from None
        end = end_date or (start_date + MAX_RANGE if start_date else None)
        start = start_date or (end - MAX_RANGE if end else None)
        if start and end and end - start > MAX_RANGE:
            raise Problem(422, "the date range is at most 90 days")
        if ids is None and start is None:
            start = container.clock.now() - MAX_RANGE  # the spec's default window: the last 90 days
        statuses = None
        if status:
            closed = [s.value for s in CLOSED_FOR_PUBLIC]
            statuses = closed if status == "closed" else [s.value for s in Status if s.value not in closed]
        rows = await open311_requests(container.pool, ids=ids,
                                      codes=service_code.split(",") if service_code else None,
                                      start=start, end=end, statuses=statuses, limit=1000)
        return render([request_of(r) for r in rows], "service_requests", "request", fmt)

    @router.get("/requests/{request_id}.{fmt}", responses=documented(200, 404), openapi_extra=SPEC_ERRORS)
    async def one_request(request_id: uuid.UUID, container: IntakeApp, fmt: Format = Path()) -> Response:
        rows = await open311_requests(container.pool, ids=[request_id], codes=None, start=None, end=None,
                                      statuses=None, limit=1)
        if not rows:
            raise Problem(404, f"no request {request_id}")
        return render([request_of(rows[0])], "service_requests", "request", fmt)

    return router


def build_open311_admin_router() -> APIRouter:
    router = APIRouter(prefix="/v1/open311", tags=["Open311 GeoReport v2"])

    @router.post("/keys", status_code=201, responses=problems(403))
    async def issue_key(body: KeyIn, caller: Caller, container: IntakeApp) -> dict[str, str]:
        require_role(caller, "admin")
        key = await container.bus.handle(c.IssueOpen311Key(body.name))
        return {"api_key": key, "name": body.name}

    return router


