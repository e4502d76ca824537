"""What notifications knows of a case: who owns it now (routing's assignments) and who is told when that
changes; for a 12345 order, the order behind it and what 12345 has been told; and which case's outcome a
merged or duplicate case takes. Pure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.notifications.domain.contacts import CODE_DIGITS, Directory, Person, Recipient, owner_unit_key, unit_desk
from shared.events.intake import (
    ExtensionRequested,
    IncidentClosed,
    IncidentReceived,
    IncidentRejected,
    IncidentResultSubmitted,
    IncidentSigned,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner


@dataclass(frozen=True)
class CaseOwner:
    """Who owns a case now: the people told without a subscription (DESIGN §6)."""

    incident_id: uuid.UUID
    unit_id: str
    unit_name: str
    unit_kind: str | None
    category: str
    urgency: str
    grid_code: str | None = None  # the most specific area the case is placed in
    worker_id: str | None = None
    worker_name: str | None = None
    worker_phone: str | None = None

    @classmethod
    def assigned(cls, event: IncidentAssigned | IncidentReassigned, party: Owner | None = None) -> CaseOwner:
        """The case's lead owner from routing's event (or `party`, one of its co-owners, in the same shape)."""
        owner = party or event.owner
        return cls(incident_id=event.incident_id, unit_id=owner.unit_id, unit_name=owner.unit_name,
                   unit_kind=owner.unit_kind, category=event.category, urgency=event.urgency,
                   grid_code=event.place_code(), worker_id=owner.worker_id, worker_name=owner.worker_name,
                   worker_phone=owner.worker_phone)

    def worker(self) -> Recipient | None:
        """The grid worker who handles the case, when one with a phone owns it."""
        if not self.worker_phone:
            return None
        return Recipient(f"worker:{self.worker_id}", Person(self.worker_name or "", self.worker_phone))

    @property
    def unit_key(self) -> str | None:
        """Its unit's key in the contacts directory."""
        return owner_unit_key(self.unit_kind, self.unit_id, self.grid_code)

    def handler(self, contacts: Directory) -> Recipient | None:
        """Who hears of the case day to day: its grid worker, else its unit's desk (liaison, else head)."""
        if (worker := self.worker()) is not None:
            return worker
        return unit_desk(self.unit_key, contacts) if self.unit_key else None

    def same_hands(self, other: CaseOwner) -> bool:
        return (self.unit_id, self.worker_id) == (other.unit_id, other.worker_id)


def owning_unit_key(owner: CaseOwner | None, unit_id: str | None, grid_code: str | None) -> str | None:
    """The directory key of the unit that owns a case: from its known owner, else from what an event says."""
    if owner is not None:
        return owner_unit_key(owner.unit_kind, owner.unit_id, owner.grid_code or grid_code)
    return owner_unit_key(None, unit_id, grid_code)


# ---- who is told of an assignment -----------------------------------------------------------------------------

Part = Literal["owner", "co_owner", "previous"]


@dataclass(frozen=True)
class Party:
    """One unit (or grid worker) an assignment concerns, and as what: the new lead owner (主办), a co-owner
    (协办), or on 改派 the owner the case was taken from."""

    part: Part
    owner: CaseOwner


def previous_owner(event: IncidentReassigned, known: CaseOwner | None) -> CaseOwner | None:
    """改派: the owner the case was taken from. The owner notifications knew (with its grid worker) when it is
    the unit routing names as the previous one (or routing names none); else the unit routing names, told at
    its desk. None when the case stays in the same hands (or this event was applied already)."""
    if known is not None and known.same_hands(CaseOwner.assigned(event)):
        return None  # a re-dispatch to the same hands, or a replay of this very event: nothing was taken
    if known is not None and event.previous_unit_id in (None, known.unit_id):
        return known
    if event.previous_unit_id is None or event.previous_unit_id == event.owner.unit_id:
        return None
    kind = event.previous_unit_id.partition("-")[0]
    return CaseOwner(incident_id=event.incident_id, unit_id=event.previous_unit_id, unit_name="",
                     unit_kind=kind if kind in CODE_DIGITS else None, category=event.category,
                     urgency=event.urgency, grid_code=event.place_code())


def assignment_parties(event: IncidentAssigned | IncidentReassigned, known: CaseOwner | None) -> list[Party]:
    """Who an assignment concerns (DOMAIN.md §4: one lead owner, optional co-owners; 改派 takes the case from
    its owner): the new owner, each co-owner, and on a reassignment the previous owner, in that order."""
    parties = [Party("owner", CaseOwner.assigned(event))]
    parties += [Party("co_owner", CaseOwner.assigned(event, co)) for co in event.co_owners]
    if isinstance(event, IncidentReassigned) and (previous := previous_owner(event, known)) is not None:
        parties.append(Party("previous", previous))
    return parties


def party_unit_keys(parties: Iterable[Party]) -> list[str]:
    """The directory entries the parties' desks may be read from (fetched in one query)."""
    return list(dict.fromkeys(key for party in parties if (key := party.owner.unit_key)))


def told_of_assignment(parties: list[Party], contacts: Directory) -> list[tuple[Recipient, Part]]:
    """Each party's handler (grid worker, else unit desk), each person once: the first part wins, so an owner
    that is also a co-owner hears as the owner, and a previous owner kept on as a co-owner hears as a
    co-owner (who still has work on the case) rather than as one the case was taken from. A party nobody
    can be reached for is skipped."""
    told: list[tuple[Recipient, Part]] = []
    seen: set[str] = set()
    for party in parties:
        recipient = party.owner.handler(contacts)
        if recipient is not None and recipient.key not in seen:
            seen.add(recipient.key)
            told.append((recipient, party.part))
    return told


# Which lifecycle events 12345 hears about, and by which callback name (DOMAIN.md §7). 退单 to 12345
# (`returned`) is the centre ruling the order is not ours at all (不予立案, intake's `rejected`); an
# owner's 退单 inside the platform (intake's `returned`) is reassigned here and 12345 is not told.
HOTLINE_CALLBACKS = {
    IncidentReceived.type: "accepted",
    IncidentSigned.type: "signed",
    IncidentRejected.type: "returned",
    ExtensionRequested.type: "extension_requested",
    IncidentResultSubmitted.type: "result",
    IncidentClosed.type: "closed",
}
HOTLINE_RECIPIENT_PREFIX = "12345:"


@dataclass
class HotlineCase:
    """A case that is a 12345 order: its order number, and whether 签收 was reported yet."""

    incident_id: uuid.UUID
    order_no: str
    signed_sent: bool = False

    @property
    def recipient(self) -> str:
        return f"{HOTLINE_RECIPIENT_PREFIX}{self.order_no}"

    def report(self, callback: str) -> bool:
        """Whether 12345 is to hear of this callback: 签收 is reported once, not again after a reassignment
        or 重办; everything else each time it happens."""
        if callback != "signed":
            return True
        if self.signed_sent:
            return False
        self.signed_sent = True
        return True

    def callback_body(self, callback: str, at: datetime, data: dict[str, Any]) -> str:
        """The callback as 12345 receives it: the order, what happened, when, and the event's details."""
        detail = {k: v for k, v in data.items() if k not in ("incident_id", "at", "actor")}
        return json.dumps({"order_no": self.order_no, "callback": callback, "incident_id": str(self.incident_id),
                           "at": at.isoformat(), "detail": detail}, ensure_ascii=False)

    def outcome_body(self, outcome: Outcome) -> str:
        """The master's `result` or `closed` as this (merged or duplicate) order's own callback; its detail
        names the case whose outcome it is."""
        return self.callback_body(outcome.callback, outcome.at,
                                  {**outcome.data, "master_incident_id": str(outcome.incident_id)})


# ---- the outcome a merged or duplicate case takes --------------------------------------------------------------

# The callbacks that end a 12345 order's handling: every order merged into (or linked as a duplicate of) a
# case gets them when that case has them (DOMAIN.md §4 and §7: each linked 12345 order gets its callbacks).
OUTCOME_CALLBACKS = ("result", "closed")


@dataclass(frozen=True)
class Outcome:
    """A case's result (办结) or its closing (结案), as the event that told of it."""

    incident_id: uuid.UUID
    callback: str  # result | closed
    event_id: uuid.UUID
    event_type: str
    at: datetime
    data: dict[str, Any] = field(hash=False)


@dataclass
class CaseOutcomes:
    """What a case has reached that its followers (cases merged into it, duplicates linked to it) take over:
    its latest result and its closing."""

    incident_id: uuid.UUID
    result: Outcome | None = None
    closed: Outcome | None = None

    def record(self, outcome: Outcome) -> None:
        """A new result replaces the old and undoes the closing (重办 reopened the case: it is open again
        until it closes anew); a closing is kept until then."""
        if outcome.callback == "result":
            self.result, self.closed = outcome, None
        elif outcome.callback == "closed":
            self.closed = outcome
        else:
            raise ValueError(f"{outcome.callback} is not a case outcome")

    def in_order(self) -> list[Outcome]:
        """What a follower that arrives now has missed, in the order 12345 is to hear it: result, then closed."""
        return [o for o in (self.result, self.closed) if o is not None]
