"""Routing's use cases: route each received incident; maintain the registry, units and workers."""

from __future__ import annotations

import uuid
from typing import Any

from services.routing.domain.assignment import Rule, decide_owner, next_level_up
from services.routing.domain.grid_import import (
    DEFAULT_OVERLAP_TOLERANCE_M2,
    FeatureError,
    overlapping_grids,
    parse_features,
    tiling_bounds,
)
from services.routing.domain.locator import Located, Locator
from services.routing.domain.registry import ancestors
from services.routing.domain.roster import Roster, build_roster
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived, IncidentReturned
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable, Owner
from shared.messaging.consumer import EventHandler


class InvalidGridFile(Exception):
    def __init__(self, errors: list[FeatureError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} feature(s) rejected; nothing imported")


async def import_grids(collection: Any, uow: Any,
                       overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2) -> dict[str, int]:
    """All or nothing: every feature valid, no comprehensive grid overlapping another, nor a micro grid
    another (of the file or of the registry), else nothing is written and every reason is given."""
    async with uow:
        # One import at a time: two files checked against the same registry could overlap each other.
        await uow.routing.lock_registry()
        grids, errors = parse_features(collection, await uow.routing.grid_codes())
        bounds = tiling_bounds(grids)
        registered = await uow.routing.tiling_grids_within(bounds, [g.code for g in grids]) if bounds else []
        errors += overlapping_grids(grids, registered, overlap_tolerance_m2)
        if errors:
            raise InvalidGridFile(sorted(errors, key=lambda e: e.index))
        version = await uow.routing.import_grids(grids)
        await uow.commit()
    return {"imported": len(grids), "registry_version": version}


def place_incident(event: IncidentReceived, locator: Locator) -> tuple[Located | None, str]:
    """Where the case is: by coordinates, else by address, else by the reported grid code (DESIGN §6).
    The text says which path placed it and why the ones before it did not."""
    misses: list[str] = []
    if event.location is not None:
        located = locator.locate(event.location.lon, event.location.lat)
        if located is not None:
            return located, "located by coordinates"
        misses.append(f"coordinates ({event.location.lon}, {event.location.lat}) are outside every grid")
    if event.address:
        located, match = locator.match_address(event.address)
        if located is not None:
            return located, "; ".join([*misses, f"placed by address ({match.note})"])
        misses.append(f"address {event.address[:100]!r}: {match.note}")
    if event.grid_code:
        located = locator.place(event.grid_code)
        if located is not None:
            return located, "; ".join([*misses, "by the reported grid code"])
        misses.append(f"grid code {event.grid_code} is not in the registry")
    return None, "; ".join(misses) or "no coordinates, address or grid code"


async def route_incident(event: IncidentReceived, envelope: Envelope, uow: Any) -> None:
    """Place the case and give it an owner; a case that cannot be placed goes to the centre's queue."""
    if not await uow.routing.remember(event):
        return  # already routed (a re-published event with a new id)
    if event.duplicate_of is not None:
        await uow.routing.record(event.incident_id, event.at, "unroutable", None, None, event.grid_code,
                                 f"duplicate of {event.duplicate_of}: follows its master, not routed")
        return
    located, found_by = place_incident(event, await uow.registry.locator())
    now = uow.clock.now()
    common = {"incident_id": event.incident_id, "at": now, "category": event.category,
              "urgency": event.urgency}
    if located is None:
        reason = f"{found_by}: nothing matched the registry, in the command centre's queue"
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, None, reason)
        uow.emit(IncidentUnroutable(**common, reason=reason), cause=envelope)
        return
    place = located.place.code
    units, workers, rule = await uow.routing.decision_context(
        place, located.grid.code if located.grid else None, event.category, event.urgency)
    rule = with_emergency_co_owner(rule, event.urgency)
    # Who is on duty now, when the owner has to act (an offline report may carry an old reported_at).
    decision = decide_owner(located, found_by, units, workers, rule, at=now)
    hierarchy = _hierarchy(place)
    if decision.owner is None:
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, place, decision.reason)
        uow.emit(IncidentUnroutable(**common, **hierarchy, reason=decision.reason), cause=envelope)
        return
    await uow.routing.record(event.incident_id, now, "assigned", decision.owner.unit_id,
                             decision.owner.worker_id, place, decision.reason)
    uow.emit(IncidentAssigned(**common, **hierarchy, owner=decision.owner, co_owners=list(decision.co_owners),
                              reason=decision.reason), cause=envelope)


def with_emergency_co_owner(rule: Rule, urgency: str) -> Rule:
    """Emergencies also go to the district (协办) unless a rule names another co-owner (DOMAIN.md §2 proposal)."""
    if urgency == "emergency" and rule.co_owner is None and rule.owner != "district":
        return Rule(rule.owner, "district")
    return rule


async def reassign_returned(event: IncidentReturned, envelope: Envelope, uow: Any) -> None:
    """退单: one level up from the unit that returned it; after two returns the centre decides (终审)."""
    routed = await uow.routing.routed(event.incident_id)
    if routed is None:
        raise LookupError(f"routing never saw incident {event.incident_id}")
    now = uow.clock.now()
    place = routed["place_code"]
    common = {"incident_id": event.incident_id, "at": now, "category": routed["category"],
              "urgency": routed["urgency"], **_hierarchy(place)}
    level = next_level_up(routed["current_unit_kind"] or "grid")
    if event.return_count >= 2 or level is None or place is None:
        reason = (f"returned {event.return_count} time(s) ({event.reason}): "
                  "in the command centre's queue for a final dispatch (终审)")
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, place, reason)
        uow.emit(IncidentUnroutable(**common, reason=reason), cause=envelope)
        return
    locator = await uow.registry.locator()
    located = locator.place(place)
    if located is None:
        raise LookupError(f"place {place} is no longer in the registry")
    units = await uow.routing.units_for(list(ancestors(place).values()))
    decision = decide_owner(located, f"returned by {routed['current_unit_id']} ({event.reason}); escalated",
                            units, [], Rule(level))
    if decision.owner is None:
        await uow.routing.record(event.incident_id, now, "unroutable", None, None, place, decision.reason)
        uow.emit(IncidentUnroutable(**common, reason=decision.reason), cause=envelope)
        return
    await uow.routing.record(event.incident_id, now, "reassigned", decision.owner.unit_id, None,
                             place, decision.reason)
    uow.emit(IncidentReassigned(**common, owner=decision.owner, previous_unit_id=routed["current_unit_id"],
                                reason=decision.reason), cause=envelope)


async def put_roster(worker_id: str, weekly: list[dict[str, Any]], periods: list[dict[str, Any]],
                     uow: Any) -> Roster:
    """Replace a worker's duty roster; RosterRefused names what is wrong, LookupError an unknown worker."""
    roster = build_roster(weekly, periods)
    async with uow:
        if await uow.routing.worker(worker_id) is None:
            raise LookupError(f"no worker {worker_id!r}")
        await uow.routing.put_roster(worker_id, roster)
        await uow.commit()
    return roster


async def delete_roster(worker_id: str, uow: Any) -> None:
    """Back to the on_duty switch alone."""
    async with uow:
        if not await uow.routing.delete_roster(worker_id):
            raise LookupError(f"worker {worker_id!r} has no roster")
        await uow.commit()


class DispatchRefused(Exception):
    """The supervisor's dispatch names a unit or worker that does not exist or does not fit (HTTP 422)."""


async def dispatch(incident_id: uuid.UUID, unit_id: str, worker_id: str | None, reason: str, actor: str,
                   uow: Any) -> Owner:
    """派遣/改派 by hand: the command centre's word, also final after two returns."""
    async with uow:
        routed = await uow.routing.routed(incident_id)
        if routed is None:
            raise LookupError(f"routing never saw incident {incident_id}")
        unit = await uow.routing.unit(unit_id)
        if unit is None:
            raise DispatchRefused(f"no unit {unit_id!r}")
        worker = await uow.routing.worker(worker_id) if worker_id else None
        if worker_id and (worker is None or worker.unit_id != unit.id):
            raise DispatchRefused(f"worker {worker_id!r} does not belong to unit {unit_id!r}")
        owner = Owner(unit_id=unit.id, unit_name=unit.name, unit_kind=unit.kind,
                      worker_id=worker.id if worker else None, worker_name=worker.name if worker else None,
                      worker_phone=worker.phone if worker else None)
        now = uow.clock.now()
        why = f"dispatched by {actor}: {reason}"
        await uow.routing.record(incident_id, now, "dispatched", unit.id, owner.worker_id, routed["place_code"], why)
        uow.emit(IncidentReassigned(incident_id=incident_id, at=now, category=routed["category"],
                                    urgency=routed["urgency"], **_hierarchy(routed["place_code"]), owner=owner,
                                    previous_unit_id=routed["current_unit_id"], reason=why))
        await uow.commit()
    return owner


def _hierarchy(place_code: str | None) -> dict[str, str | None]:
    levels = ancestors(place_code) if place_code else {}
    return {"grid_code": levels.get("grid"), "community_code": levels.get("community"),
            "street_code": levels.get("street"), "district_code": levels.get("district")}


EVENT_HANDLERS: dict[str, EventHandler] = {
    IncidentReceived.type: route_incident,
    IncidentReturned.type: reassign_returned,
}
