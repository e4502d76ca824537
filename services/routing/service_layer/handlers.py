"""Routing's use cases: route each received incident; maintain the registry, units and workers."""

from __future__ import annotations

from typing import Any

from services.routing.domain.assignment import decide_owner
from services.routing.domain.grid_import import FeatureError, parse_features
from services.routing.domain.registry import ancestors
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived
from shared.events.routing import IncidentAssigned, IncidentUnroutable
from shared.messaging.consumer import EventHandler


class InvalidGridFile(Exception):
    def __init__(self, errors: list[FeatureError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} feature(s) rejected; nothing imported")


async def import_grids(collection: Any, uow: Any) -> dict[str, int]:
    async with uow:
        grids, errors = parse_features(collection, await uow.routing.grid_codes())
        if errors:
            raise InvalidGridFile(errors)
        version = await uow.routing.import_grids(grids)
        await uow.commit()
    return {"imported": len(grids), "registry_version": version}


async def route_incident(event: IncidentReceived, envelope: Envelope, uow: Any) -> None:
    """Locate the case and give it an owner; a case that cannot be placed goes to the centre's queue."""
    if not await uow.routing.remember(event):
        return  # already routed (a re-published event with a new id)
    if event.duplicate_of is not None:
        await uow.routing.record(event.incident_id, event.at, "unroutable", None, None, event.grid_code,
                                 f"duplicate of {event.duplicate_of}: follows its master, not routed")
        return
    locator = await uow.registry.locator()
    located, found_by = None, ""
    if event.location is not None:
        located, found_by = locator.locate(event.location.lon, event.location.lat), "located by coordinates"
    if located is None and event.grid_code:
        located, found_by = locator.located_code(event.grid_code), "by the reported grid code"
    now = uow.clock.now()
    common = {"incident_id": event.incident_id, "at": now, "category": event.category,
              "urgency": event.urgency}
    if located is None:
        reason = "no coordinates, address or grid code matched the registry: in the command centre's queue"
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, None, reason)
        uow.emit(IncidentUnroutable(**common, reason=reason), cause=envelope)
        return
    levels = ancestors(located.grid.code)
    units = await uow.routing.units_for(list(levels.values()))
    workers = await uow.routing.workers_for(located.grid.code)
    decision = decide_owner(located, found_by, units, workers)
    hierarchy = {"grid_code": located.grid.code, "community_code": levels.get("community"),
                 "street_code": levels.get("street"), "district_code": levels.get("district")}
    if decision.owner is None:
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, located.grid.code,
                                 decision.reason)
        uow.emit(IncidentUnroutable(**common, **hierarchy, reason=decision.reason), cause=envelope)
        return
    await uow.routing.record(event.incident_id, now, "assigned", decision.owner.unit_id,
                             decision.owner.worker_id, located.grid.code, decision.reason)
    uow.emit(IncidentAssigned(**common, **hierarchy, owner=decision.owner, reason=decision.reason),
             cause=envelope)


EVENT_HANDLERS: dict[str, EventHandler] = {IncidentReceived.type: route_incident}
