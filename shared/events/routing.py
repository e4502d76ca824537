"""Events routing publishes on `routing.assignments.v1`: who owns a case, and why."""

from __future__ import annotations

import uuid
from datetime import datetime

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


class IncidentUnroutable(AssignmentEvent):
    type = "routing.incident.unroutable"
    reason: str


ROUTING_EVENTS: tuple[type[AssignmentEvent], ...] = (IncidentAssigned, IncidentReassigned, IncidentUnroutable)
