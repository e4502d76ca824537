"""HTTP request and response bodies of intake (the API contract, DESIGN.md §6)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.intake.domain.attachments import Attachment
from services.intake.domain.hotline import NATURES, Nature
from shared.events.intake import Contacted, ReturnKind, Satisfied, Solved, Urgency
from shared.problems import Problem
from shared.web import Instant

# Mainland China's bounding box, generously: a point outside it is a client error.
CHINA_LON = (73.0, 135.5)
CHINA_LAT = (3.0, 54.0)
PHONE_PATTERN = r"^(\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|12345)$"
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "idempotency-key", "in": "header", "required": False,
    "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY, "title": "Idempotency-Key"},
    "description": "same key + same body: the first answer again; another body: 409"}


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The request's Idempotency-Key (DESIGN §5), at most MAX_IDEMPOTENCY_KEY characters (422 beyond)."""
    key = headers.get("idempotency-key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise Problem(422, f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters",
                      errors=[{"field": "idempotency-key", "message": "too long", "type": "string_too_long"}])
    return key


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=CHINA_LON[0], le=CHINA_LON[1], description="WGS84 longitude inside China")
    lat: float = Field(ge=CHINA_LAT[0], le=CHINA_LAT[1], description="WGS84 latitude inside China")


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None


# Who may open a case through POST /v1/incidents, and where the others come in: a 12345 order only from the hotline
# platform (signed), a citizen's request only through Open311.
OTHER_DOORS = {"hotline": "a 12345 order comes in only from the hotline platform, signed, at POST /v1/hotline/orders",
               "public": "a citizen's request comes in only through Open311 (POST /open311/v2/requests.json)"}


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["gridworker", "patrol", "supervisor", "sensor"] = Field(
        description="who saw it; hotline orders and the public's requests have doors of their own "
                    "(POST /v1/hotline/orders, Open311)")
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    urgency: Urgency = "normal"
    location: Location | None = None
    address: str | None = Field(None, max_length=500)
    grid_code: str | None = Field(None, pattern=r"^\d{15}(\d{3})?$")
    reporter: Reporter | None = None
    reported_at: Instant | None = Field(None, description="with offset; past for offline reports")
    attachments: list[AnyHttpUrl] = Field(default_factory=list, max_length=20)

    @field_validator("source", mode="before")
    @classmethod
    def _not_another_door(cls, value: Any) -> Any:
        if isinstance(value, str) and value in OTHER_DOORS:
            raise ValueError(f"source {value!r} is not taken here: {OTHER_DOORS[value]}")
        return value


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_Action):
    action: Literal["sign"]


# An action may point to photos uploaded to the case first (POST /v1/incidents/{id}/attachments): a 办结 with its
# 处置 photos, progress with its own, a 核查 with the verifier's.
AttachmentIds = Annotated[list[uuid.UUID], Field(default_factory=list, max_length=20,
                                                  description="ids of stored attachments of this case")]


class ProgressIn(_Action):
    action: Literal["progress"]
    note: str = Field("", max_length=2000)
    attachments: AttachmentIds


class ReturnIn(_Action):
    action: Literal["return"]
    reason: str = Field(min_length=1, max_length=500, description="非本单位职责, 非本辖区, 信息不全, 重复, …")
    kind: ReturnKind | None = Field(None, description="why, for routing: not_our_area (非本辖区: re-located by "
                                    "place), not_our_duty (非本单位职责: the category's rule or the centre), "
                                    "incomplete and duplicate (the centre), other (one level up); default: read "
                                    "from the reason's words")


class ReferUpIn(_Action):
    """上报: pass the case to the level above; not a 退单 (no return limit, not in 回退率)."""

    action: Literal["refer_up"]
    reason: str = Field(min_length=1, max_length=500)


LimitUnit = Literal["hours", "working_hours", "working_days"]


class RequestExtensionIn(_Action):
    action: Literal["request_extension"]
    amount: float | None = Field(None, gt=0, le=240)
    unit: LimitUnit = "working_days"
    working_days: int | None = Field(None, gt=0, le=10, description="shorthand for amount + unit=working_days")
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_amount(self) -> RequestExtensionIn:
        if (self.amount is None) == (self.working_days is None):
            raise ValueError("give either amount (with unit) or working_days")
        if self.working_days is not None:
            self.amount, self.unit = float(self.working_days), "working_days"
        return self


class DecideExtensionIn(_Action):
    action: Literal["decide_extension"]
    approved: bool
    amount: float | None = Field(None, gt=0, le=240)
    working_days: int | None = Field(None, gt=0, le=10)


class SuspendIn(_Action):
    action: Literal["suspend"]
    reason: str = Field(min_length=1, max_length=500)
    until: Instant | None = None



class RequestSuspensionIn(_Action):
    """The owner applies for 挂起: a cause outside the unit (another authority, a court, the season, funds, the
    citizen unreachable); `until` resumes it by itself, none for 挂账."""

    action: Literal["request_suspension"]
    reason: str = Field(min_length=1, max_length=500)
    until: Instant | None = None


class DecideSuspensionIn(_Action):
    """The centre (supervisor or leader) approves or refuses the pending 挂起 request."""

    action: Literal["decide_suspension"]
    approved: bool
    note: str = Field("", max_length=500)


class PublicationIn(BaseModel):
    """The centre shows the case on the public Open311 feed, with the reply the public reads (答复)."""

    model_config = ConfigDict(extra="forbid")
    reply: str = Field("", max_length=2000)


class ResumeIn(_Action):
    action: Literal["resume"]


class SubmitResultIn(_Action):
    action: Literal["submit_result"]
    result: str = Field(min_length=1, max_length=4000)
    attachments: AttachmentIds


class VerifyIn(_Action):
    action: Literal["verify"]
    passed: bool
    note: str = Field("", max_length=2000)
    attachments: AttachmentIds


class VisitIn(_Action):
    action: Literal["visit"]
    contacted: Contacted
    responded: bool | None = Field(None, description="响应: did the handling unit contact the citizen?")
    solved: Solved | None = None
    satisfied: Satisfied | None = None


class ReopenIn(_Action):
    action: Literal["reopen"]
    reason: str = Field("", max_length=1000)


class MergeIn(_Action):
    action: Literal["merge"]
    into: uuid.UUID


class RejectIn(_Action):
    action: Literal["reject"]
    reason: str = Field(min_length=1, max_length=500)


ActionIn = Annotated[
    SignIn | ProgressIn | ReturnIn | ReferUpIn | RequestExtensionIn | DecideExtensionIn | SuspendIn
    | RequestSuspensionIn | DecideSuspensionIn | ResumeIn | SubmitResultIn | VerifyIn | VisitIn | ReopenIn
    | MergeIn | RejectIn,
    Field(discriminator="action"),
]


class ActionResult(BaseModel):
    id: uuid.UUID
    status: str
    allowed_actions: list[str]


class IncidentAccepted(BaseModel):
    id: uuid.UUID
    status: str
    received_at: datetime


class IncidentOut(BaseModel):
    id: uuid.UUID
    source: str
    category: str
    urgency: str
    title: str
    description: str
    status: str
    location: dict[str, float] | None
    address: str | None
    grid_code: str | None
    reporter: dict[str, Any] | None
    attachments: list[str]
    reported_at: datetime
    received_at: datetime
    owner: dict[str, Any] | None
    co_owners: list[dict[str, Any]]
    return_count: int
    pending_extension: dict[str, Any] | None
    pending_suspension: dict[str, Any] | None = Field(
        None, description="the owner's 挂起 request awaiting the centre: reason, until, requested_by, at")
    suspended_until: datetime | None = Field(None, description="a 挂起 resumes by itself at this time")
    extension_working_days: float
    deadline: datetime | None
    visit: dict[str, Any] | None
    hotline_order_no: str | None
    hotline: dict[str, Any] | None
    duplicate_of: uuid.UUID | None
    duplicates: list[uuid.UUID]
    merged_into: uuid.UUID | None
    allowed_actions: list[str]
    timeline: list[dict[str, Any]]


class GeoTagOut(BaseModel):
    lon: float
    lat: float
    altitude_m: float | None = None


class AttachmentOut(BaseModel):
    """An attachment's record. The bytes are at `href` (and a JPEG thumbnail at `thumbnail_href`) once stored; a
    photo is served re-encoded without its EXIF, whose capture time and GPS are given here instead (for 核查)."""

    id: uuid.UUID
    incident_id: uuid.UUID
    status: Literal["pending", "stored", "failed"] = Field(
        description="pending: a 12345 or Open311 URL still to fetch; failed: see error")
    origin: Literal["upload", "hotline", "open311"]
    media_type: str | None
    filename: str | None
    size_bytes: int | None = Field(description="as served")
    sha256: str | None = Field(description="of the file as received")
    width: int | None
    height: int | None
    captured_at: datetime | None = Field(description="the photo's EXIF capture time")
    gps: GeoTagOut | None = Field(description="the photo's EXIF GPS fix (WGS84 as the camera recorded it)")
    camera: str | None
    has_thumbnail: bool
    created_at: datetime
    created_by: str | None
    stored_at: datetime | None
    error: str | None = Field(description="why a fetch failed")
    attempts: int
    href: str | None
    thumbnail_href: str | None


def attachment_out(a: Attachment) -> AttachmentOut:
    href = f"/v1/incidents/{a.incident_id}/attachments/{a.id}" if a.status == "stored" else None
    return AttachmentOut(
        id=a.id, incident_id=a.incident_id, status=a.status.value, origin=a.origin,
        media_type=a.media_type.value if a.media_type else None, filename=a.filename, size_bytes=a.size_bytes,
        sha256=a.sha256, width=a.width, height=a.height, captured_at=a.captured_at,
        gps=GeoTagOut(lon=a.gps.lon, lat=a.gps.lat, altitude_m=a.gps.altitude_m) if a.gps else None,
        camera=a.camera, has_thumbnail=a.has_thumbnail, created_at=a.created_at, created_by=a.created_by,
        stored_at=a.stored_at, error=a.error, attempts=a.attempts, href=href,
        thumbnail_href=f"{href}/thumbnail" if href and a.has_thumbnail else None)


class Citizen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)


class HotlineOrderIn(BaseModel):
    """A 12345 work order (工单), DESIGN.md §6 / DOMAIN.md §7."""

    model_config = ConfigDict(extra="forbid")
    order_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="工单编号")
    title: str = Field(min_length=1, max_length=200)
    content: str = Field("", max_length=8000)
    category: str = Field(min_length=1, max_length=100, description="12345 诉求分类 code or name")
    urgency: Literal["normal", "urgent", "emergency", "一般", "紧急", "特急"] = "normal"
    address: str | None = Field(None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    coord_sys: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    citizen: Citizen | None = None
    received_at: Instant
    deadline: Instant | None = None
    confidential: bool = False
    nature: Nature | None = Field(None, description="事项性质, in Chinese or English (kept in English)")

    @field_validator("nature")
    @classmethod
    def _nature_in_english(cls, value: str | None) -> str | None:
        return NATURES.get(value, value) if value else value
    channel: str | None = Field(None, max_length=50)
    related_order_no: str | None = Field(None, max_length=64)
    attachments: list[AnyHttpUrl] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _coordinates(self) -> HotlineOrderIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat come together")
        if self.lon is not None and self.lat is not None and not (
                CHINA_LON[0] <= self.lon <= CHINA_LON[1] and CHINA_LAT[0] <= self.lat <= CHINA_LAT[1]):
            raise ValueError("lon/lat outside China")
        return self


class HotlineEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=100)
    kind: Literal["urge", "redo", "visit_result", "extension_decision", "return_decision"]
    note: str = Field("", max_length=2000)
    approved: bool | None = None
    amount: float | None = Field(None, gt=0, le=240)
    contacted: Contacted = "yes"
    responded: bool | None = Field(None, description="响应: did the handling unit contact the citizen?")
    solved: Solved | None = None
    satisfied: Satisfied | None = None

    @model_validator(mode="after")
    def _required_by_kind(self) -> HotlineEventIn:
        if self.kind in ("extension_decision", "return_decision") and self.approved is None:
            raise ValueError(f"{self.kind} needs approved")
        return self


class MappingRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["code", "name", "prefix", "keyword"] = Field(
        description="code, name: 12345's exact 诉求分类 code or name; prefix: a parent code (the longest matching"
                    " wins); keyword: found in the category, else in the order's title and content (the longest wins)")
    value: str = Field(min_length=1, max_length=100)
    category: str = Field(min_length=1, max_length=64, description="one of GET /v1/categories")


class HotlineMapping(BaseModel):
    """A city's 12345 category mapping: every rule, loaded and replaced as a whole."""

    model_config = ConfigDict(extra="forbid")
    rules: list[MappingRuleIn] = Field(min_length=1, max_length=10_000)


class HotlineAccepted(BaseModel):
    id: uuid.UUID
    order_no: str
    status: str
    category: str
    urgency: str


QueueName = Literal["centre", "unplaced", "final_dispatch", "to_complete", "to_merge", "dispatch", "extension",
                    "suspension"]
QUEUE_DESCRIPTION = (
    "the command centre's queues (issue 16), inside the caller's area: `centre`, every open case routing handed to "
    "the centre that no one has taken since, or one kind of them (`unplaced`: no place or owner by the rules; "
    "`final_dispatch`: returned twice, 终审; `to_complete`: 信息不全; `to_merge`: 重复; `dispatch`: another return "
    "or 上报 the rules cannot settle), each with its `queue`; `extension` or `suspension`: an owner's 延期 or 挂起 "
    "request awaiting the centre's decision. Not with status, since or until.")


class CentreQueueOut(BaseModel):
    kind: Literal["unplaced", "final_dispatch", "to_complete", "to_merge", "dispatch"] = Field(
        description="unplaced: no place or no owner by the rules; final_dispatch: returned twice (终审); "
                    "to_complete: returned as 信息不全; to_merge: returned as 重复; dispatch: another return or "
                    "上报 the rules cannot settle")
    reason: str | None
    since: datetime


class IncidentSummary(BaseModel):
    id: uuid.UUID
    source: str
    category: str
    urgency: str
    title: str
    status: str
    grid_code: str | None
    received_at: datetime
    owner: dict[str, Any] | None
    hotline_order_no: str | None
    duplicate_of: uuid.UUID | None
    merged_into: uuid.UUID | None
    pending_extension: dict[str, Any] | None = Field(None, description="the owner's extension request awaiting "
                                                                       "a decision: amount, unit, reason, at")
    pending_suspension: dict[str, Any] | None = Field(None, description="the owner's 挂起 request awaiting the "
                                                                        "centre: reason, until, requested_by, at")
    queue: CentreQueueOut | None = Field(None, description="with queue=centre (or one of its kinds): which of the "
                                                           "centre's queues the case waits in, why, since when")


class IncidentPage(BaseModel):
    items: list[IncidentSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def encode_cursor(received_at: datetime, incident_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{received_at.isoformat()}|{incident_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, _, incident_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(incident_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(422, "cursor is not one this API issued",
                      errors=[{"field": "query.cursor", "message": "invalid cursor", "type": "value_error"}]) from exc
