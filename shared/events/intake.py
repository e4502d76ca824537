"""Events intake publishes on `intake.incidents.v1`: the case lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import Event

Urgency = Literal["normal", "urgent", "emergency"]
# 回访 answers (DOMAIN.md §6): the one vocabulary of the visit, from the action, 12345 and the event alike.
Contacted = Literal["yes", "unreachable", "refused", "anonymous"]
Solved = Literal["yes", "partly", "no"]
Satisfied = Literal["satisfied", "basically", "unsatisfied"]
# Why an owner hands a case back (退单, DOMAIN §4): routing reassigns by the reason.
ReturnKind = Literal["not_our_area", "not_our_duty", "incomplete", "duplicate", "other"]
# 事项性质 of a 12345 order (DOMAIN §3, §7), in English; policies may set limits by it.
Nature = Literal["consultation", "request", "complaint", "report", "suggestion", "praise"]
# 12345 sends 事项性质 in Chinese (DOMAIN §7); intake's orders and supervision's policies map it to the word above.
NATURE_NAMES: dict[str, Nature] = {"咨询": "consultation", "求助": "request", "投诉": "complaint", "举报": "report",
                                   "建议": "suggestion", "表扬": "praise"}


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lon: float
    lat: float


class IncidentEvent(Event):
    incident_id: uuid.UUID
    at: datetime
    actor: str | None = None

    def subject(self) -> str:
        return str(self.incident_id)


class IncidentReceived(IncidentEvent):
    type = "intake.incident.received"
    source: str
    category: str
    urgency: Urgency
    title: str
    location: Point | None = None
    address: str | None = None
    grid_code: str | None = None
    reported_at: datetime
    duplicate_of: uuid.UUID | None = None
    hotline_order_no: str | None = None
    deadline: datetime | None = None
    nature: Nature | None = None  # a 12345 order's 事项性质; None for other sources


class IncidentSigned(IncidentEvent):
    type = "intake.incident.signed"
    unit_id: str | None = None


class IncidentProgressed(IncidentEvent):
    type = "intake.incident.progressed"
    note: str = ""
    attachments: list[uuid.UUID] = []  # photos of the work so far, among the case's (intake.incident.attached)


class IncidentResultSubmitted(IncidentEvent):
    type = "intake.incident.result_submitted"
    result: str = ""
    attachments: list[uuid.UUID] = []  # the 处置 photos the result points to, among the case's attachments


class IncidentVerified(IncidentEvent):
    type = "intake.incident.verified"
    passed: bool
    attachments: list[uuid.UUID] = []  # the 核查 photos, among the case's attachments


class IncidentClosed(IncidentEvent):
    type = "intake.incident.closed"


class IncidentReturned(IncidentEvent):
    type = "intake.incident.returned"
    reason: str
    unit_id: str | None = None
    return_count: int
    # 非本辖区 → re-located by place; 非本单位职责 → the category's rule or the centre; 信息不全, 重复 → the centre;
    # other → one level up.
    kind: ReturnKind = "other"


class IncidentReopened(IncidentEvent):
    type = "intake.incident.reopened"
    reason: str = ""


class IncidentMerged(IncidentEvent):
    type = "intake.incident.merged"
    into: uuid.UUID


class IncidentRejected(IncidentEvent):
    type = "intake.incident.rejected"
    reason: str


class ExtensionRequested(IncidentEvent):
    type = "intake.incident.extension_requested"
    amount: float
    unit: Literal["hours", "working_hours", "working_days"]
    reason: str


class ExtensionDecided(IncidentEvent):
    type = "intake.incident.extension_decided"
    approved: bool
    amount: float
    unit: Literal["hours", "working_hours", "working_days"]


class IncidentSuspended(IncidentEvent):
    type = "intake.incident.suspended"
    reason: str
    until: datetime | None = None


class IncidentResumed(IncidentEvent):
    type = "intake.incident.resumed"
    automatic: bool = False  # the 挂起's `until` came (actor "system"), not a person's resume


class IncidentVisited(IncidentEvent):
    type = "intake.incident.visited"
    contacted: Contacted
    # 响应: the citizen says the handling unit contacted them; None when the visit did not ask.
    responded: bool | None = None
    solved: Solved | None = None
    satisfied: Satisfied | None = None


INTAKE_EVENTS: tuple[type[IncidentEvent], ...] = (
    IncidentReceived, IncidentSigned, IncidentProgressed, IncidentResultSubmitted, IncidentVerified,
    IncidentClosed, IncidentReturned, IncidentReopened, IncidentMerged, IncidentRejected,
    ExtensionRequested, ExtensionDecided, IncidentSuspended, IncidentResumed, IncidentVisited,
)


class IncidentReferred(IncidentEvent):
    """上报: the owner passes the case to the level above; not a 退单 (no 回退率, no return limit)."""

    type = "intake.incident.referred"
    reason: str
    unit_id: str | None = None


class IncidentUrged(IncidentEvent):
    """12345 (or the centre) pressed for progress (催办)."""

    type = "intake.incident.urged"
    note: str = ""


INTAKE_EVENTS = (*INTAKE_EVENTS, IncidentUrged, IncidentReferred)


class SuspensionRequested(IncidentEvent):
    """The owner asks the centre to 挂起 the case, for a cause outside the unit (DOMAIN §5)."""

    type = "intake.incident.suspension_requested"
    reason: str
    until: datetime | None = None
    unit_id: str | None = None


class SuspensionDecided(IncidentEvent):
    """The centre's answer to a 挂起 request; an approval is followed by `suspended`."""

    type = "intake.incident.suspension_decided"
    approved: bool
    reason: str
    until: datetime | None = None
    requested_by: str | None = None
    note: str = ""


class IncidentRestored(IncidentEvent):
    """12345 refused our 退单 (its `return_decision`, approved false): the order we ruled not ours (rejected)
    comes back to the unit that had it, with a fresh sign clock; with no unit, to the centre's queue."""

    type = "intake.incident.restored"
    unit_id: str | None = None
    note: str = ""


INTAKE_EVENTS = (*INTAKE_EVENTS, SuspensionRequested, SuspensionDecided, IncidentRestored)


class GeoTag(BaseModel):
    """Where a photo's own GPS put it (WGS84 as the camera recorded it), from its EXIF."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lon: float
    lat: float
    altitude_m: float | None = None


class IncidentAttached(IncidentEvent):
    """A photo or document was stored with the case: an upload, or a 12345 order's or an Open311 request's URL
    fetched. Its id and metadata only, never its bytes: the bytes are served by intake to callers who may read
    the case (GET /v1/incidents/{id}/attachments/{attachment_id})."""

    type = "intake.incident.attached"
    attachment_id: uuid.UUID
    origin: Literal["upload", "hotline", "open311"]
    media_type: Literal["image/jpeg", "image/png", "image/webp", "application/pdf"]
    filename: str | None = None
    size_bytes: int  # as served (a photo re-encoded without its EXIF)
    sha256: str  # of the file as received
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None  # EXIF capture time (a photo's own say, for 核查)
    gps: GeoTag | None = None
    has_thumbnail: bool = False


INTAKE_EVENTS = (*INTAKE_EVENTS, IncidentAttached)
