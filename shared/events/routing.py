"""Events routing publishes on `routing.assignments.v1`: who owns a case, and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import Event
from shared.events.intake import Urgency


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    unit_id: str
    unit_name: str
    unit_kind: str
    worker_id: str | None = None
    worker_name: str | None = None
    worker_phone: str | None = None


class AssignmentEvent(Event):
    incident_id: uuid.UUID
    at: datetime
    category: str
    urgency: Urgency
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None

    def subject(self) -> str:
        return str(self.incident_id)

    def place_code(self) -> str | None:
        """The most specific area the case is placed in: its grid, or the community, street or district
        an address named when no grid matched. Area checks are code prefixes, so each works alike."""
        return self.grid_code or self.community_code or self.street_code or self.district_code


class IncidentAssigned(AssignmentEvent):
    type = "routing.incident.assigned"
    owner: Owner
    co_owners: list[Owner] = []
    reason: str


class IncidentReassigned(AssignmentEvent):
    type = "routing.incident.reassigned"
    owner: Owner
    co_owners: list[Owner] = []
    previous_unit_id: str | None = None
    reason: str


# Why a case waits in the command centre's queue: no place or no owner by the rules; returned twice (终审, the
# centre's dispatch is final); returned as 信息不全 or 重复; or another return the rules cannot settle.
CentreQueue = Literal["unplaced", "final_dispatch", "to_complete", "to_merge", "dispatch"]


class IncidentUnroutable(AssignmentEvent):
    """The case is in the command centre's queue, for the dispatcher to give it an owner."""

    type = "routing.incident.unroutable"
    reason: str
    queue: CentreQueue = "unplaced"


ROUTING_EVENTS: tuple[type[AssignmentEvent], ...] = (IncidentAssigned, IncidentReassigned, IncidentUnroutable)
