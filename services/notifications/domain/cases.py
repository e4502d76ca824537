"""What notifications knows of a case: who owns it now (routing's assignments) and, for a 12345 order, the
order behind it and what 12345 has been told. Pure."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifications.domain.contacts import Person, Recipient, owner_unit_key
from shared.events.intake import (
    ExtensionRequested,
    IncidentClosed,
    IncidentReceived,
    IncidentRejected,
    IncidentResultSubmitted,
    IncidentSigned,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned


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
    def assigned(cls, event: IncidentAssigned | IncidentReassigned) -> CaseOwner:
        owner = event.owner
        return cls(incident_id=event.incident_id, unit_id=owner.unit_id, unit_name=owner.unit_name,
                   unit_kind=owner.unit_kind, category=event.category, urgency=event.urgency,
                   grid_code=event.place_code(), worker_id=owner.worker_id, worker_name=owner.worker_name,
                   worker_phone=owner.worker_phone)

    def worker(self) -> Recipient | None:
        """The grid worker who handles the case, when one with a phone owns it."""
        if not self.worker_phone:
            return None
        return Recipient(f"worker:{self.worker_id}", Person(self.worker_name or "", self.worker_phone))


def owning_unit_key(owner: CaseOwner | None, unit_id: str | None, grid_code: str | None) -> str | None:
    """The directory key of the unit that owns a case: from its known owner, else from what an event says."""
    if owner is not None:
        return owner_unit_key(owner.unit_kind, owner.unit_id, owner.grid_code or grid_code)
    return owner_unit_key(None, unit_id, grid_code)


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
