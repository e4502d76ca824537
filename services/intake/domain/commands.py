"""What callers ask intake to do (imperative names). One command per lifecycle action."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from services.intake.domain.hotline import MappingRule
from shared.actor import Actor
from shared.events.intake import Contacted, Point, ReturnKind, Satisfied, Solved, Urgency
from shared.ids import case_id
from shared.messagebus import Command

if TYPE_CHECKING:  # the commands name their handlers' result; the model imports the commands
    from services.intake.domain.attachments import Attachment  # noqa: F401 - used in the Command[...] strings
    from services.intake.domain.model import Incident  # noqa: F401 - used in the Command["Incident"] strings

LimitUnit = Literal["hours", "working_hours", "working_days"]


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's Idempotency-Key with the request it came with: same key + same body is a resend."""

    scope: str  # the caller: keys are chosen by clients, so two clients may pick the same one
    key: str
    body: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


@dataclass(frozen=True)
class ReportIncident(Command["Incident"]):
    source: str
    category: str
    urgency: Urgency
    title: str
    description: str = ""
    location: Point | None = None
    address: str | None = None
    grid_code: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reported_at: datetime | None = None
    attachments: tuple[str, ...] = ()
    actor: Actor | None = None
    incident_id: uuid.UUID = field(default_factory=case_id)
    idempotency_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class SubmitPublicRequest(Command["Incident"]):
    """An Open311 `POST requests`: a public report, taken once its api_key is one we issued."""

    api_key: str
    report: ReportIncident


@dataclass(frozen=True)
class IssueOpen311Key(Command[str]):
    """A new api_key for a public client (returns the key)."""

    client_name: str


@dataclass(frozen=True)
class CaseCommand(Command["Incident"]):
    """A lifecycle action on one case; its handler returns the case as the action left it."""

    incident_id: uuid.UUID
    actor: Actor


@dataclass(frozen=True)
class ActionAnswer:
    """What an action with an Idempotency-Key was answered: the case's state after it, and whether this request
    only replayed the answer of an earlier one with the same key (the action was not taken again)."""

    incident_id: uuid.UUID
    status: str
    allowed_actions: tuple[str, ...]
    replayed: bool = False


@dataclass(frozen=True)
class ActOnce(Command[ActionAnswer]):
    """A lifecycle action sent with the caller's Idempotency-Key (an offline queue resending until it hears an
    answer): taken once; a resend with the same key and request gets the first answer again."""

    action: CaseCommand
    key: IdempotencyKey


@dataclass(frozen=True)
class SignIncident(CaseCommand):
    pass


@dataclass(frozen=True)
class ReportProgress(CaseCommand):
    note: str = ""
    attachments: tuple[uuid.UUID, ...] = ()  # stored attachments of the case the note points to


@dataclass(frozen=True)
class ReturnIncident(CaseCommand):
    reason: str = ""
    kind: ReturnKind | None = None  # None: read from the reason's words (非本辖区, 非本单位职责, 信息不全, 重复)


@dataclass(frozen=True)
class ReferUp(CaseCommand):
    """上报: pass the case to the level above (not a 退单)."""

    reason: str = ""


@dataclass(frozen=True)
class RequestExtension(CaseCommand):
    amount: float = 0
    unit: LimitUnit = "working_days"
    reason: str = ""


@dataclass(frozen=True)
class DecideExtension(CaseCommand):
    approved: bool = False
    amount: float | None = None  # None: as requested


@dataclass(frozen=True)
class SuspendIncident(CaseCommand):
    reason: str = ""
    until: datetime | None = None


@dataclass(frozen=True)
class ResumeIncident(CaseCommand):
    pass


@dataclass(frozen=True)
class PublishIncident(CaseCommand):
    """Show the case on the public Open311 feed (a public report is shown anyway), with the reply the public
    reads (答复); never a confidential 12345 order."""

    reply: str = ""


@dataclass(frozen=True)
class RequestSuspension(CaseCommand):
    """The owner applies for 挂起 (DOMAIN §5); the centre decides."""

    reason: str = ""
    until: datetime | None = None


@dataclass(frozen=True)
class DecideSuspension(CaseCommand):
    approved: bool = False
    note: str = ""


@dataclass(frozen=True)
class ResumeDueSuspensions(Command[int]):
    """End every 挂起 whose `until` has come (up to `batch` cases); returns how many resumed."""

    batch: int = 100


@dataclass(frozen=True)
class SubmitResult(CaseCommand):
    result: str = ""
    attachments: tuple[uuid.UUID, ...] = ()  # the 处置 photos, uploaded to the case first


@dataclass(frozen=True)
class VerifyResult(CaseCommand):
    passed: bool = False
    note: str = ""
    attachments: tuple[uuid.UUID, ...] = ()  # the 核查 photos


@dataclass(frozen=True)
class AttachFile(Command["tuple[Attachment, bool]"]):
    """A file uploaded to a case (its bytes as received); returns the attachment and whether this request stored
    it (False: an earlier request with the same Idempotency-Key and the same file did)."""

    incident_id: uuid.UUID
    actor: Actor
    data: bytes = field(repr=False)
    filename: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class FetchAttachments(Command[int]):
    """Fetch up to `batch` attachments whose URL is due (a 12345 order's, an Open311 request's); returns how many
    were tried (stored, failed, or put back for a later attempt)."""

    batch: int = 10


@dataclass(frozen=True)
class RecordVisit(CaseCommand):
    contacted: Contacted = "yes"
    responded: bool | None = None
    solved: Solved | None = None
    satisfied: Satisfied | None = None


@dataclass(frozen=True)
class ReopenIncident(CaseCommand):
    reason: str = ""


@dataclass(frozen=True)
class MergeIncident(CaseCommand):
    into: uuid.UUID


@dataclass(frozen=True)
class RejectIncident(CaseCommand):
    reason: str = ""


@dataclass(frozen=True)
class AcceptHotlineOrder(Command["tuple[Incident, bool]"]):
    """A 12345 work order (工单), already authenticated by its HMAC signature."""

    order_no: str
    title: str
    content: str
    category: str  # 12345's code or name, mapped to ours
    urgency: str
    received_at: datetime
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    coord_sys: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    citizen_name: str | None = None
    citizen_phone: str | None = None
    deadline: datetime | None = None
    confidential: bool = False
    nature: str | None = None
    channel: str | None = None
    related_order_no: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyHotlineEvent(Command["tuple[Incident, bool]"]):
    """What 12345 says about an order it already sent: urge, redo, visit_result, extension_decision,
    return_decision. Idempotent on `event_id`."""

    order_no: str
    event_id: str
    kind: Literal["urge", "redo", "visit_result", "extension_decision", "return_decision"]
    note: str = ""
    approved: bool | None = None
    amount: float | None = None
    contacted: Contacted = "yes"
    responded: bool | None = None
    solved: Solved | None = None
    satisfied: Satisfied | None = None


@dataclass(frozen=True)
class RememberHotlineSignature(Command[None]):
    """A signed 12345 request's signature, kept so that the same request sent again is refused (a replay)."""

    signature: str


@dataclass(frozen=True)
class ReplaceHotlineMapping(Command[list[MappingRule]]):
    """Load a city's 12345 category mapping (its codes and names → our categories) in place of the current one."""

    rules: tuple[MappingRule, ...]
