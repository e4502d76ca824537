"""Intake's use cases: commands from HTTP, events from routing. Each runs in one unit of work."""

from __future__ import annotations

import uuid
from typing import Any

from services.intake.domain.commands import ReportIncident, SignIncident
from services.intake.domain.model import Incident, UnknownCategory
from shared.events.envelope import Envelope
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable
from shared.messaging.consumer import EventHandler


class IncidentNotFound(Exception):
    def __init__(self, incident_id: uuid.UUID) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident {incident_id}")


async def report_incident(cmd: ReportIncident, uow: Any) -> Incident:
    async with uow:
        if cmd.category not in await uow.incidents.category_codes():
            raise UnknownCategory(cmd.category)
        incident = Incident.report(cmd, uow.clock.now())
        await uow.incidents.add(incident)
        uow.collect(incident)
        await uow.commit()
    return incident


async def sign_incident(cmd: SignIncident, uow: Any) -> Incident:
    async with uow:
        incident = await uow.incidents.get(cmd.incident_id)
        if incident is None:
            raise IncidentNotFound(cmd.incident_id)
        incident.sign(cmd.actor, uow.clock.now())
        await uow.incidents.save(incident)
        uow.collect(incident)
        await uow.commit()
    return incident


async def record_assignment(event: IncidentAssigned | IncidentReassigned, envelope: Envelope, uow: Any) -> None:
    """Routing's decision, applied inside the consumer's unit of work (with its inbox row)."""
    incident = await uow.incidents.get(event.incident_id)
    if incident is None:
        # Routing only assigns what intake published, so the record exists; a missing one is a bug
        # or a foreign event: raise so it is retried and then parked, never silently dropped.
        raise IncidentNotFound(event.incident_id)
    if incident.record_assignment(event.owner, event.co_owners, event.grid_code, event.reason, event.at,
                                  reassigned=isinstance(event, IncidentReassigned)):
        await uow.incidents.save(incident)


async def record_unroutable(event: IncidentUnroutable, envelope: Envelope, uow: Any) -> None:
    incident = await uow.incidents.get(event.incident_id)
    if incident is None:
        raise IncidentNotFound(event.incident_id)
    incident.record_unroutable(event.reason, event.at)
    await uow.incidents.save(incident)


EVENT_HANDLERS: dict[str, EventHandler] = {
    IncidentAssigned.type: record_assignment,
    IncidentReassigned.type: record_assignment,
    IncidentUnroutable.type: record_unroutable,
}
