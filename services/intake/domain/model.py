"""The case record and its state machine (DOMAIN.md §4, adopted by DESIGN.md §6). Pure: no I/O.

An `Incident` decides whether an action is allowed, changes its state and records the events to
publish and the timeline entries to keep; the unit of work persists all three in one transaction.
`RULES` is the one table of who may do what from which state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.intake.domain import commands as c
from services.intake.domain.attachments import FETCHED_SOURCES, Attachment
from services.intake.domain.errors import IllegalTransition, InvalidRequest, NotPermitted
from shared.calendar import WorkCalendar
from shared.events import intake as ev
from shared.events.routing import Owner


class Status(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    RETURNED = "returned"
    PENDING_VERIFICATION = "pending_verification"
    CLOSED = "closed"
    VISITED = "visited"
    MERGED = "merged"
    REJECTED = "rejected"


S = Status
OPEN_STATES = (S.RECEIVED, S.ASSIGNED, S.IN_PROGRESS, S.SUSPENDED, S.RETURNED, S.PENDING_VERIFICATION)
CLOSED_FOR_PUBLIC = (S.CLOSED, S.VISITED, S.MERGED, S.REJECTED)  # Open311 knows only open and closed
OWNER_ROLES = ("gridworker", "community", "street", "department")
CENTRE = ("supervisor",)
CENTRE_AND_LEADERS = ("supervisor", "leader")
MAX_RETURNS = 2                # after two returns the centre's choice is final (终审)
RETURN_WINDOW_WORKING_DAYS = 2  # an owner may still return a case this long after signing
REOPEN_WINDOW = timedelta(days=30)
MAX_EXTENSION_WORKING_DAYS = 10


# The 退单 reasons of the field's list (DOMAIN §4), as an owner writes them.
RETURN_WORDS: tuple[tuple[str, ev.ReturnKind], ...] = (
    ("非本辖区", "not_our_area"), ("非本单位职责", "not_our_duty"), ("信息不全", "incomplete"), ("重复", "duplicate"))


def return_kind_of(reason: str) -> ev.ReturnKind:
    return next((kind for words, kind in RETURN_WORDS if words in reason), "other")


@dataclass(frozen=True)
class Rule:
    states: tuple[Status, ...]
    roles: tuple[str, ...]
    owner_only: bool = False  # the caller must belong to the lead owner (主办)
    # An /actions move, listed as allowed in its states; False for those taken elsewhere (12345's events endpoint,
    # the publication endpoint), which change no state a client steps through.
    action: bool = True


RULES: dict[str, Rule] = {
    "sign": Rule((S.ASSIGNED,), OWNER_ROLES, owner_only=True),
    "progress": Rule((S.IN_PROGRESS,), OWNER_ROLES, owner_only=True),
    "return": Rule((S.ASSIGNED, S.IN_PROGRESS), OWNER_ROLES, owner_only=True),
    "refer_up": Rule((S.ASSIGNED, S.IN_PROGRESS), OWNER_ROLES, owner_only=True),
    "request_extension": Rule((S.IN_PROGRESS,), OWNER_ROLES, owner_only=True),
    "decide_extension": Rule((S.IN_PROGRESS,), (*CENTRE_AND_LEADERS, "hotline")),
    "request_suspension": Rule((S.ASSIGNED, S.IN_PROGRESS), OWNER_ROLES, owner_only=True),
    "decide_suspension": Rule((S.ASSIGNED, S.IN_PROGRESS), CENTRE_AND_LEADERS),
    "suspend": Rule((S.ASSIGNED, S.IN_PROGRESS), CENTRE_AND_LEADERS),
    "resume": Rule((S.SUSPENDED,), CENTRE_AND_LEADERS),
    "submit_result": Rule((S.IN_PROGRESS,), OWNER_ROLES, owner_only=True),
    "verify": Rule((S.PENDING_VERIFICATION,), ("supervisor", "gridworker")),
    "visit": Rule((S.CLOSED,), (*CENTRE, "hotline")),
    # 12345's own 回访 may come as soon as it has our `result` callback, before our 核查 closes the case (DOMAIN §7).
    "visit_result": Rule((S.PENDING_VERIFICATION, S.CLOSED), ("hotline",), action=False),
    "reopen": Rule((S.CLOSED, S.VISITED), (*CENTRE_AND_LEADERS, "hotline")),
    "merge": Rule(OPEN_STATES, (*CENTRE, "system")),
    "reject": Rule((S.RECEIVED, S.RETURNED), CENTRE),
    # 12345's ruling on our 退单 (the `returned` callback goes out when the centre rejects an order).
    "return_decision": Rule((S.REJECTED,), ("hotline",), action=False),
    "publish": Rule(tuple(Status), CENTRE, action=False),
    # Photos and documents (POST /v1/incidents/{id}/attachments), while the case is open: its owners (主办 and
    # 协办: the 处置 photos) and, inside their area, grid workers (the reporter's photos, 核查's) and the centre.
    "attach": Rule(OPEN_STATES, (*OWNER_ROLES, *CENTRE_AND_LEADERS), action=False),
}
ATTACH_IN_AREA = ("gridworker", *CENTRE_AND_LEADERS)  # who attaches to a case of their area without owning it


HOTLINE_ACTOR = c.Actor("12345", "hotline", ("",))


def _check_suspension(reason: str, until: datetime | None, at: datetime) -> None:
    if not reason.strip():
        raise InvalidRequest("挂起 needs a reason (挂账, court, season, funds, citizen unreachable, …)")
    if until is not None and until <= at:
        raise InvalidRequest("until must be in the future")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _with_attachments(detail: dict[str, Any], attachments: tuple[uuid.UUID, ...]) -> dict[str, Any]:
    """A timeline entry's detail, naming the attachments the action points to (a 办结's photos), if any."""
    return {**detail, "attachments": [str(a) for a in attachments]} if attachments else detail


def actions_allowed_in(status: Status) -> list[str]:
    """The /actions a client may take on a case in this state."""
    return [name for name, rule in RULES.items() if status in rule.states and rule.action]


@dataclass
class TimelineEntry:
    at: datetime
    action: str
    actor: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Incident:
    id: uuid.UUID
    source: str
    category: str
    urgency: str
    title: str
    description: str
    location: ev.Point | None
    address: str | None
    grid_code: str | None
    reporter: dict[str, Any] | None
    attachments: list[str]
    reported_at: datetime
    received_at: datetime
    status: Status = Status.RECEIVED
    owner: dict[str, Any] | None = None
    co_owners: list[dict[str, Any]] = field(default_factory=list)
    return_count: int = 0
    signed_at: datetime | None = None
    closed_at: datetime | None = None
    suspended_from: Status | None = None
    suspended_until: datetime | None = None  # a 挂起 ends by itself then (None: until someone resumes it)
    pending_suspension: dict[str, Any] | None = None
    pending_extension: dict[str, Any] | None = None
    extensions_granted: int = 0
    extension_working_days: float = 0
    merged_into: uuid.UUID | None = None
    duplicate_of: uuid.UUID | None = None
    hotline_order_no: str | None = None
    deadline: datetime | None = None
    visit: dict[str, Any] | None = None
    hotline: dict[str, Any] | None = None  # the 12345 order's own fields (nature, channel, confidential, …)
    published_at: datetime | None = None  # shown on the public Open311 feed from then (public reports always)
    public_reply: str | None = None  # the 答复 the public reads there; never the unit's internal result
    version: int = 0
    # Recorded by the methods below; the unit of work drains them.
    events: list[ev.IncidentEvent] = field(default_factory=list, repr=False)
    new_timeline: list[TimelineEntry] = field(default_factory=list, repr=False)
    new_attachments: list[Attachment] = field(default_factory=list, repr=False)  # URLs to fetch, with a new case

    # Creation and routing

    @classmethod
    def report(cls, cmd: c.ReportIncident, now: datetime, *, duplicate_of: uuid.UUID | None = None,
               hotline_order_no: str | None = None, deadline: datetime | None = None,
               hotline: dict[str, Any] | None = None) -> Incident:
        incident = cls(
            id=cmd.incident_id, source=cmd.source, category=cmd.category, urgency=cmd.urgency,
            title=cmd.title, description=cmd.description, location=cmd.location, address=cmd.address,
            grid_code=cmd.grid_code,
            reporter={"name": cmd.reporter_name, "phone": cmd.reporter_phone}
            if (cmd.reporter_name or cmd.reporter_phone) else None,
            attachments=list(cmd.attachments),
            reported_at=min(cmd.reported_at or now, now),
            received_at=now, duplicate_of=duplicate_of, hotline_order_no=hotline_order_no, deadline=deadline,
            hotline=hotline,
        )
        actor = cmd.actor.sub if cmd.actor else cmd.source
        detail: dict[str, Any] = {"source": cmd.source}
        if duplicate_of:
            detail["duplicate_of"] = str(duplicate_of)
        incident._record(ev.IncidentReceived(
            incident_id=incident.id, at=now, actor=actor, source=cmd.source, category=cmd.category,
            urgency=cmd.urgency, title=cmd.title, location=cmd.location, address=cmd.address,
            grid_code=cmd.grid_code, reported_at=incident.reported_at, duplicate_of=duplicate_of,
            hotline_order_no=hotline_order_no, deadline=deadline, nature=(hotline or {}).get("nature"),
        ), "received", actor, detail)
        origin = FETCHED_SOURCES.get(cmd.source)
        if origin is not None:  # a 12345 order's or an Open311 request's files: fetched in the background
            incident.new_attachments = [Attachment.to_fetch(incident.id, origin, url, now)
                                        for url in dict.fromkeys(cmd.attachments)]
        return incident

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def allowed_actions(self) -> list[str]:
        return actions_allowed_in(self.status)

    def visible_to(self, actor: c.Actor) -> bool:
        """Callers see the cases of their area, and owners their own cases."""
        return self._in_area(actor) or self._is_owner(actor)

    def record_assignment(self, owner: Owner, co_owners: list[Owner], grid_code: str | None, reason: str,
                          at: datetime, reassigned: bool) -> bool:
        """Routing decided who owns the case. Returns False when the case has moved past it.

        A first assignment applies while nobody works the case yet (received, returned, assigned). A
        reassignment (改派, DOMAIN §4) applies at any open state: the case goes back to `assigned` for its new
        owner, who signs afresh; the old owner can no longer act on it, and what they had pending (a 挂起 or an
        extension request, a result awaiting 核查) goes with them."""
        movable = OPEN_STATES if reassigned else (S.RECEIVED, S.RETURNED, S.ASSIGNED)
        if self.status not in movable:
            return False
        previous = self._owner_unit
        self.owner = owner.model_dump()
        self.co_owners = [o.model_dump() for o in co_owners]
        if grid_code and not self.grid_code:
            self.grid_code = grid_code
        self.status, self.signed_at, self.suspended_from, self.pending_extension = S.ASSIGNED, None, None, None
        self.suspended_until, self.pending_suspension = None, None
        detail = {"unit": owner.unit_id, "unit_name": owner.unit_name, "worker": owner.worker_id, "reason": reason}
        if reassigned:
            detail["previous_unit"] = previous
        self.new_timeline.append(TimelineEntry(at, "reassigned" if reassigned else "assigned", "routing", detail))
        return True

    def urge(self, actor: c.Actor, note: str, at: datetime) -> None:
        """催办 from 12345: recorded and published; the 督办 ladder itself is supervision's."""
        if not self.is_open:
            raise self._illegal("urge", "only an open case can be urged")
        self._record(ev.IncidentUrged(incident_id=self.id, at=at, actor=actor.sub, note=note), "urge",
                     actor.sub, {"note": note})

    def note(self, action: str, actor: c.Actor, detail: dict[str, Any], at: datetime) -> None:
        """A timeline entry with no state change (for example 12345's ruling on a return)."""
        self.new_timeline.append(TimelineEntry(at, action, actor.sub, detail))

    def record_unroutable(self, reason: str, at: datetime, place_code: str | None = None,
                          queue: str = "unplaced") -> None:
        """In the command centre's queue (`queue`: why, IncidentUnroutable's). A case placed in a district (or
        finer) keeps that place, so the district's supervisors see it in their fallback queue (DESIGN §6)."""
        if place_code and not self.grid_code:
            self.grid_code = place_code
        self.new_timeline.append(TimelineEntry(at, "unroutable", "routing", {"reason": reason, "queue": queue}))

    # Lifecycle actions (each checks RULES first)

    def sign(self, cmd: c.SignIncident, at: datetime) -> None:
        self._check("sign", cmd.actor)
        self.status, self.signed_at = S.IN_PROGRESS, at
        self._record(ev.IncidentSigned(incident_id=self.id, at=at, actor=cmd.actor.sub, unit_id=self._owner_unit),
                     "sign", cmd.actor.sub, {"unit": self._owner_unit})

    def progress(self, cmd: c.ReportProgress, at: datetime) -> None:
        self._check("progress", cmd.actor)
        self._record(ev.IncidentProgressed(incident_id=self.id, at=at, actor=cmd.actor.sub, note=cmd.note,
                                           attachments=list(cmd.attachments)),
                     "progress", cmd.actor.sub, _with_attachments({"note": cmd.note}, cmd.attachments))

    def return_case(self, cmd: c.ReturnIncident, at: datetime, calendar: WorkCalendar) -> None:
        self._check("return", cmd.actor)
        if not cmd.reason.strip():
            raise InvalidRequest("a return needs a reason (非本单位职责, 非本辖区, 信息不全, 重复, …)")
        if self.return_count >= MAX_RETURNS:
            raise self._illegal("return", f"the case was returned {self.return_count} times; "
                                    "the command centre's dispatch is final (终审)")
        if self.status is S.IN_PROGRESS and self.signed_at is not None:
            limit = calendar.add(self.signed_at, RETURN_WINDOW_WORKING_DAYS, "working_days")
            if at > limit:
                raise self._illegal("return", "a signed case can be returned only within "
                                        f"{RETURN_WINDOW_WORKING_DAYS} working days of signing")
        self.return_count += 1
        unit = self._owner_unit
        kind = cmd.kind or return_kind_of(cmd.reason)
        self.status, self.signed_at = S.RETURNED, None
        self._record(ev.IncidentReturned(incident_id=self.id, at=at, actor=cmd.actor.sub, reason=cmd.reason,
                                         unit_id=unit, return_count=self.return_count, kind=kind),
                     "return", cmd.actor.sub, {"reason": cmd.reason, "kind": kind, "unit": unit,
                                               "count": self.return_count})

    def refer_up(self, cmd: c.ReferUp, at: datetime) -> None:
        """上报: the owner passes the case up a level; it waits for that level's dispatch like a new case. Not a
        退单: it counts in no return limit and no 回退率."""
        self._check("refer_up", cmd.actor)
        if not cmd.reason.strip():
            raise InvalidRequest("上报 needs a reason (what the level above can do that this unit cannot)")
        unit = self._owner_unit
        self.status, self.signed_at, self.pending_extension, self.pending_suspension = S.RECEIVED, None, None, None
        self._record(ev.IncidentReferred(incident_id=self.id, at=at, actor=cmd.actor.sub, reason=cmd.reason,
                                           unit_id=unit), "refer_up", cmd.actor.sub,
                     {"reason": cmd.reason, "unit": unit})

    def request_extension(self, cmd: c.RequestExtension, at: datetime) -> None:
        self._check("request_extension", cmd.actor)
        if self.pending_extension is not None:
            raise self._illegal("request_extension", "an extension request is already pending")
        if cmd.amount <= 0 or not cmd.reason.strip():
            raise InvalidRequest("an extension needs a positive amount and a reason")
        if cmd.unit == "working_days" and self.extension_working_days + cmd.amount > MAX_EXTENSION_WORKING_DAYS:
            raise InvalidRequest(f"extensions are capped at {MAX_EXTENSION_WORKING_DAYS} working days in all "
                                 f"({self.extension_working_days:g} already granted)")
        self.pending_extension = {"amount": cmd.amount, "unit": cmd.unit, "reason": cmd.reason,
                                  "requested_by": cmd.actor.sub, "at": at.isoformat()}
        self._record(ev.ExtensionRequested(incident_id=self.id, at=at, actor=cmd.actor.sub, amount=cmd.amount,
                                           unit=cmd.unit, reason=cmd.reason),
                     "request_extension", cmd.actor.sub, {"amount": cmd.amount, "unit": cmd.unit,
                                                          "reason": cmd.reason})

    def decide_extension(self, cmd: c.DecideExtension, at: datetime) -> None:
        self._check("decide_extension", cmd.actor)
        pending = self.pending_extension
        if pending is None:
            raise self._illegal("decide_extension", "no extension request is pending")
        if self.hotline_order_no is not None and cmd.actor.role != "hotline":
            raise NotPermitted("a 12345 order's extension is 12345's to decide: the request went to it "
                               "(extension_requested) and its extension_decision settles it")
        if cmd.approved and self.extensions_granted >= 1 and cmd.actor.role not in ("leader", "hotline"):
            raise NotPermitted("a second extension can be approved only by a leader")
        amount = float(cmd.amount if cmd.amount is not None else pending["amount"])
        if cmd.approved and not 0 < amount <= pending["amount"]:
            raise InvalidRequest("the approved amount must be positive and at most the amount requested")
        self.pending_extension = None
        if cmd.approved:
            self.extensions_granted += 1
            if pending["unit"] == "working_days":
                self.extension_working_days += amount
        self._record(ev.ExtensionDecided(incident_id=self.id, at=at, actor=cmd.actor.sub, approved=cmd.approved,
                                         amount=amount if cmd.approved else 0, unit=pending["unit"]),
                     "decide_extension", cmd.actor.sub,
                     {"approved": cmd.approved, "amount": amount if cmd.approved else 0, "unit": pending["unit"]})

    def request_suspension(self, cmd: c.RequestSuspension, at: datetime) -> None:
        """挂起 applied for by the owner, for a cause outside the unit (DOMAIN §5); the centre decides."""
        self._check("request_suspension", cmd.actor)
        if self.pending_suspension is not None:
            raise self._illegal("request_suspension", "a 挂起 request is already pending")
        _check_suspension(cmd.reason, cmd.until, at)
        self.pending_suspension = {"reason": cmd.reason, "until": cmd.until.isoformat() if cmd.until else None,
                                   "requested_by": cmd.actor.sub, "at": at.isoformat()}
        self._record(ev.SuspensionRequested(incident_id=self.id, at=at, actor=cmd.actor.sub, reason=cmd.reason,
                                            until=cmd.until, unit_id=self._owner_unit),
                     "request_suspension", cmd.actor.sub, {"reason": cmd.reason, "until": _iso(cmd.until)})

    def decide_suspension(self, cmd: c.DecideSuspension, at: datetime) -> None:
        """The centre approves (the case is 挂起 from now, until the date asked) or refuses the request."""
        self._check("decide_suspension", cmd.actor)
        pending = self.pending_suspension
        if pending is None:
            raise self._illegal("decide_suspension", "no 挂起 request is pending")
        until = datetime.fromisoformat(pending["until"]) if pending["until"] else None
        if cmd.approved and until is not None and until <= at:
            raise self._illegal("decide_suspension", f"the 挂起 asked to last until {pending['until']}, which has "
                                "passed: refuse it, and the owner may ask again")
        self.pending_suspension = None
        self._record(ev.SuspensionDecided(incident_id=self.id, at=at, actor=cmd.actor.sub, approved=cmd.approved,
                                          reason=pending["reason"], until=until,
                                          requested_by=pending["requested_by"], note=cmd.note),
                     "decide_suspension", cmd.actor.sub, {"approved": cmd.approved, "note": cmd.note,
                                                          "requested_by": pending["requested_by"]})
        if cmd.approved:
            self._suspend(cmd.actor.sub, pending["reason"], until, at)

    def suspend(self, cmd: c.SuspendIncident, at: datetime) -> None:
        """挂起 by the centre itself (挂账 has no `until`)."""
        self._check("suspend", cmd.actor)
        _check_suspension(cmd.reason, cmd.until, at)
        self.pending_suspension = None  # the owner's request, if any, is settled by this
        self._suspend(cmd.actor.sub, cmd.reason, cmd.until, at)

    def _suspend(self, actor: str, reason: str, until: datetime | None, at: datetime) -> None:
        self.suspended_from, self.status, self.suspended_until = self.status, S.SUSPENDED, until
        self._record(ev.IncidentSuspended(incident_id=self.id, at=at, actor=actor, reason=reason, until=until),
                     "suspend", actor, {"reason": reason, "until": _iso(until)})

    def resume(self, cmd: c.ResumeIncident, at: datetime) -> None:
        self._check("resume", cmd.actor)
        self._resume(cmd.actor.sub, at, automatic=False)

    def resume_when_due(self, at: datetime) -> bool:
        """The 挂起 ends by itself once its `until` has come (DOMAIN §4: `until` reached, by the system)."""
        if self.status is not S.SUSPENDED or self.suspended_until is None or self.suspended_until > at:
            return False
        self._resume("system", at, automatic=True)
        return True

    def _resume(self, actor: str, at: datetime, automatic: bool) -> None:
        until = self.suspended_until
        self.status, self.suspended_from, self.suspended_until = self.suspended_from or S.IN_PROGRESS, None, None
        detail: dict[str, Any] = {"status": self.status.value}
        if automatic:
            detail["until"] = _iso(until)
        self._record(ev.IncidentResumed(incident_id=self.id, at=at, actor=actor, automatic=automatic), "resume",
                     actor, detail)

    def rule_on_return(self, approved: bool, note: str, at: datetime) -> None:
        """12345's ruling on our 退单 of its order. Agreed: the order stays ours no more (rejected, its `returned`
        callback already sent). Refused: the order comes back to the unit that had it, to sign afresh; with no
        unit, to the centre's queue (received) for the dispatcher."""
        self._check("return_decision", HOTLINE_ACTOR)
        if approved:
            self.new_timeline.append(TimelineEntry(at, "return_decision", HOTLINE_ACTOR.sub,
                                                   {"approved": True, "note": note}))
            return
        unit = self._owner_unit
        self.status, self.signed_at = (S.ASSIGNED if unit else S.RECEIVED), None
        self._record(ev.IncidentRestored(incident_id=self.id, at=at, actor=HOTLINE_ACTOR.sub, unit_id=unit,
                                         note=note),
                     "return_decision", HOTLINE_ACTOR.sub, {"approved": False, "note": note, "unit": unit})

    def submit_result(self, cmd: c.SubmitResult, at: datetime) -> None:
        self._check("submit_result", cmd.actor)
        if not cmd.result.strip():
            raise InvalidRequest("submit_result needs the result (办结反馈)")
        self.status = S.PENDING_VERIFICATION
        self._record(ev.IncidentResultSubmitted(incident_id=self.id, at=at, actor=cmd.actor.sub, result=cmd.result,
                                                attachments=list(cmd.attachments)),
                     "submit_result", cmd.actor.sub, _with_attachments({"result": cmd.result}, cmd.attachments))

    def verify(self, cmd: c.VerifyResult, at: datetime) -> None:
        self._check("verify", cmd.actor)
        if cmd.actor.role == "gridworker" and (self._is_owner(cmd.actor) or not self._in_area(cmd.actor)):
            raise NotPermitted("a grid worker verifies only cases of their own grid that another unit handled")
        self._record(ev.IncidentVerified(incident_id=self.id, at=at, actor=cmd.actor.sub, passed=cmd.passed,
                                         attachments=list(cmd.attachments)),
                     "verify", cmd.actor.sub,
                     _with_attachments({"passed": cmd.passed, "note": cmd.note}, cmd.attachments))
        if cmd.passed:
            self.status, self.closed_at = S.CLOSED, at
            self._record(ev.IncidentClosed(incident_id=self.id, at=at, actor=cmd.actor.sub), "close",
                         cmd.actor.sub, {})
            if self.visit is not None:  # 12345 already called the citizen back (its visit_result came early)
                self.status = S.VISITED
        else:
            self.status = S.IN_PROGRESS  # 返工: back to the owner with a fresh handle clock

    def record_visit(self, cmd: c.RecordVisit, at: datetime) -> None:
        early = cmd.actor.role == "hotline" and self.status is S.PENDING_VERIFICATION
        self._check("visit_result" if cmd.actor.role == "hotline" else "visit", cmd.actor)
        if cmd.contacted == "yes" and (cmd.solved is None or cmd.satisfied is None):
            raise InvalidRequest("a visit that reached the citizen needs solved and satisfied")
        if not early:  # an early 12345 visit waits for our 核查: the case is visited once it closes
            self.status = S.VISITED
        self.visit = {"contacted": cmd.contacted, "responded": cmd.responded, "solved": cmd.solved,
                      "satisfied": cmd.satisfied}
        self._record(ev.IncidentVisited(incident_id=self.id, at=at, actor=cmd.actor.sub, contacted=cmd.contacted,
                                        responded=cmd.responded, solved=cmd.solved, satisfied=cmd.satisfied),
                     "visit", cmd.actor.sub, dict(self.visit))

    def reopen(self, cmd: c.ReopenIncident, at: datetime) -> None:
        self._check("reopen", cmd.actor)
        if self.closed_at is not None and at - self.closed_at > REOPEN_WINDOW:
            raise self._illegal("reopen", "a case can be reopened within 30 days of closing")
        self.status, self.closed_at, self.signed_at = S.ASSIGNED, None, None  # 重办: same owner, fresh clocks
        self._record(ev.IncidentReopened(incident_id=self.id, at=at, actor=cmd.actor.sub, reason=cmd.reason),
                     "reopen", cmd.actor.sub, {"reason": cmd.reason, "unit": self._owner_unit})

    def publish(self, cmd: c.PublishIncident, at: datetime) -> None:
        """The centre shows the case on the public feed, with the reply the public reads (DOMAIN §7: status_notes
        = the Chinese state + the latest public reply). A confidential 12345 order is never shown."""
        self._check("publish", cmd.actor)
        if (self.hotline or {}).get("confidential"):
            raise InvalidRequest("a confidential 12345 order (是否保密) is never published")
        self.published_at = self.published_at or at
        if cmd.reply.strip():
            self.public_reply = cmd.reply.strip()
        self.new_timeline.append(TimelineEntry(at, "publish", cmd.actor.sub, {"reply": self.public_reply}))

    def merge_into(self, cmd: c.MergeIncident, master: Incident, at: datetime) -> None:
        self._check("merge", cmd.actor)
        if master.id == self.id:
            raise InvalidRequest("a case cannot be merged into itself")
        if not master.is_open and master.status not in (S.CLOSED, S.VISITED, S.MERGED):
            raise InvalidRequest(f"cannot merge into a case that is {master.status.value}")
        self.status, self.merged_into = S.MERGED, master.id
        self._record(ev.IncidentMerged(incident_id=self.id, at=at, actor=cmd.actor.sub, into=master.id),
                     "merge", cmd.actor.sub, {"into": str(master.id)})

    def reject(self, cmd: c.RejectIncident, at: datetime) -> None:
        self._check("reject", cmd.actor)
        if not cmd.reason.strip():
            raise InvalidRequest("不予立案 needs a reason")
        self.status = S.REJECTED
        self._record(ev.IncidentRejected(incident_id=self.id, at=at, actor=cmd.actor.sub, reason=cmd.reason),
                     "reject", cmd.actor.sub, {"reason": cmd.reason})

    # Attachments (domain/attachments.py: what is taken, the caps, a photo's metadata)

    def check_attach(self, actor: c.Actor) -> None:
        """May this caller attach a file now (RULES["attach"])? Its owners (主办 or 协办) may; so may grid workers
        and the centre inside their area."""
        rule = RULES["attach"]
        if self.status not in rule.states:
            raise self._illegal("attach", f"files are attached to open cases; this one is {self.status.value}")
        if actor.role not in rule.roles:
            raise NotPermitted(f"role {actor.role!r} may not attach files; allowed: {', '.join(rule.roles)}")
        if self._is_owner(actor) or self._is_co_owner(actor):
            return
        if actor.role in ATTACH_IN_AREA and self._in_area(actor):
            return
        raise NotPermitted("only the case's owners, and grid workers and the centre of its area, attach files")

    def attach(self, attachment: Attachment, actor: str | None, at: datetime) -> None:
        """A stored file joins the case: on its timeline, and published (its id and metadata, never its bytes)."""
        if attachment.media_type is None or attachment.sha256 is None or attachment.size_bytes is None:
            raise ValueError("only a stored attachment joins a case")  # a bug of the caller
        gps = attachment.gps
        self._record(ev.IncidentAttached(
            incident_id=self.id, at=at, actor=actor, attachment_id=attachment.id, origin=attachment.origin,
            media_type=attachment.media_type.value, filename=attachment.filename, size_bytes=attachment.size_bytes,
            sha256=attachment.sha256, width=attachment.width, height=attachment.height,
            captured_at=attachment.captured_at, has_thumbnail=attachment.has_thumbnail,
            gps=ev.GeoTag(lon=gps.lon, lat=gps.lat, altitude_m=gps.altitude_m) if gps else None,
        ), "attach", actor, attachment.describe())

    def attachment_failed(self, attachment: Attachment, at: datetime) -> None:
        """A file the case came with could not be fetched: kept on the timeline, with the reason."""
        self.new_timeline.append(TimelineEntry(at, "attach_failed", attachment.origin, {
            **attachment.describe(), "url": attachment.source_url, "error": attachment.error}))

    # Rules

    def _is_co_owner(self, actor: c.Actor) -> bool:
        return actor.unit is not None and any(actor.unit == o.get("unit_id") for o in self.co_owners)

    @property
    def _owner_unit(self) -> str | None:
        return (self.owner or {}).get("unit_id")

    def _is_owner(self, actor: c.Actor) -> bool:
        owner = self.owner or {}
        return actor.unit is not None and actor.unit == owner.get("unit_id") or actor.sub == owner.get("worker_id")

    def _in_area(self, actor: c.Actor) -> bool:
        return actor.sees(self.grid_code)

    def _illegal(self, action: str, reason: str | None = None) -> IllegalTransition:
        return IllegalTransition(action, self.status, actions_allowed_in(self.status), reason)

    def _check(self, action: str, actor: c.Actor) -> None:
        rule = RULES[action]
        if self.status not in rule.states:
            raise self._illegal(action)
        if actor.role not in rule.roles:
            raise NotPermitted(f"role {actor.role!r} may not {action}; allowed: {', '.join(rule.roles)}")
        if rule.owner_only and not self._is_owner(actor):
            raise NotPermitted(f"only the lead owner unit ({self._owner_unit}) may {action}")
        if not rule.owner_only and not self._in_area(actor):
            raise NotPermitted("the case is outside the caller's area")

    def _record(self, event: ev.IncidentEvent, action: str, actor: str | None, detail: dict[str, Any]) -> None:
        self.events.append(event)
        self.new_timeline.append(TimelineEntry(event.at, action, actor, detail))
