"""The case record and its state machine (DOMAIN.md §4). Pure: no I/O.

An `Incident` decides whether an action is allowed, changes its state and records the events to
publish; the unit of work persists the state, the timeline and the events in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.intake.domain.commands import Actor, ReportIncident
from shared.events.envelope import Event
from shared.events.intake import IncidentEvent, IncidentReceived, IncidentSigned, Point
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


# Which client actions each state allows (the rest of DOMAIN.md §4 lands with the lifecycle issue).
ALLOWED_ACTIONS: dict[Status, tuple[str, ...]] = {
    Status.RECEIVED: (),
    Status.ASSIGNED: ("sign",),
    Status.IN_PROGRESS: (),
    Status.SUSPENDED: (),
    Status.RETURNED: (),
    Status.PENDING_VERIFICATION: (),
    Status.CLOSED: (),
    Status.VISITED: (),
    Status.MERGED: (),
    Status.REJECTED: (),
}
OWNER_ROLES = ("gridworker", "community", "street", "department")


class DomainError(Exception):
    """Base of the rule violations the edge maps to problem responses."""


class IllegalTransition(DomainError):
    def __init__(self, action: str, status: Status) -> None:
        self.action = action
        self.status = status
        self.allowed = list(ALLOWED_ACTIONS[status])
        super().__init__(f"cannot {action} a case that is {status.value}")


class NotPermitted(DomainError):
    pass


class UnknownCategory(DomainError):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown category {code!r}")


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
    location: Point | None
    address: str | None
    grid_code: str | None
    reporter: dict[str, Any] | None
    attachments: list[str]
    reported_at: datetime
    received_at: datetime
    status: Status = Status.RECEIVED
    owner: dict[str, Any] | None = None
    co_owners: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    # Recorded by the methods below; the unit of work drains them.
    events: list[Event] = field(default_factory=list, repr=False)
    new_timeline: list[TimelineEntry] = field(default_factory=list, repr=False)

    @classmethod
    def report(cls, cmd: ReportIncident, now: datetime) -> Incident:
        incident = cls(
            id=cmd.incident_id, source=cmd.source, category=cmd.category, urgency=cmd.urgency,
            title=cmd.title, description=cmd.description, location=cmd.location, address=cmd.address,
            grid_code=cmd.grid_code,
            reporter={"name": cmd.reporter_name, "phone": cmd.reporter_phone}
            if (cmd.reporter_name or cmd.reporter_phone) else None,
            attachments=list(cmd.attachments),
            reported_at=min(cmd.reported_at or now, now),
            received_at=now,
        )
        actor = cmd.actor.sub if cmd.actor else cmd.source
        incident._record(IncidentReceived(
            incident_id=incident.id, at=now, actor=actor, source=cmd.source, category=cmd.category,
            urgency=cmd.urgency, title=cmd.title, location=cmd.location, address=cmd.address,
            grid_code=cmd.grid_code, reported_at=incident.reported_at,
        ), "received", actor, {"source": cmd.source})
        return incident

    def allowed_actions(self) -> list[str]:
        return list(ALLOWED_ACTIONS[self.status])

    def record_assignment(self, owner: Owner, co_owners: list[Owner], grid_code: str | None, reason: str,
                          at: datetime, reassigned: bool) -> bool:
        """Routing decided who owns the case. Returns False when the case has moved past it."""
        if self.status not in (Status.RECEIVED, Status.RETURNED, Status.ASSIGNED):
            return False
        self.owner = owner.model_dump()
        self.co_owners = [o.model_dump() for o in co_owners]
        if grid_code and not self.grid_code:
            self.grid_code = grid_code
        self.status = Status.ASSIGNED
        self.new_timeline.append(TimelineEntry(at, "reassigned" if reassigned else "assigned", "routing",
                                               {"unit": owner.unit_id, "unit_name": owner.unit_name,
                                                "worker": owner.worker_id, "reason": reason}))
        return True

    def record_unroutable(self, reason: str, at: datetime) -> None:
        self.new_timeline.append(TimelineEntry(at, "unroutable", "routing", {"reason": reason}))

    def sign(self, actor: Actor, at: datetime) -> None:
        self._require("sign")
        self._require_owner(actor)
        self.status = Status.IN_PROGRESS
        self._record(IncidentSigned(incident_id=self.id, at=at, actor=actor.sub, unit_id=actor.unit),
                     "sign", actor.sub, {"unit": actor.unit})

    def _require(self, action: str) -> None:
        if action not in ALLOWED_ACTIONS[self.status]:
            raise IllegalTransition(action, self.status)

    def _require_owner(self, actor: Actor) -> None:
        if actor.role not in OWNER_ROLES:
            raise NotPermitted(f"role {actor.role!r} cannot act as the owner of a case")
        owner_unit = (self.owner or {}).get("unit_id")
        owner_worker = (self.owner or {}).get("worker_id")
        if actor.unit != owner_unit and actor.sub != owner_worker:
            raise NotPermitted("only the owner unit of the case may do this")

    def _record(self, event: IncidentEvent, action: str, actor: str | None, detail: dict[str, Any]) -> None:
        self.events.append(event)
        self.new_timeline.append(TimelineEntry(event.at, action, actor, detail))
