"""Routing's use cases: route each received incident and each returned one (events from intake); keep the grid
registry, units, workers, rosters and rules; the command centre's dispatch by hand (commands).

The bus (shared/messagebus.py, wired in bootstrap.py) gives each handler its unit of work and what else it
names: the in-memory registry (`registry`), the overlap tolerance of grid imports (`overlap_tolerance_m2`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from services.routing.domain import commands as c
from services.routing.domain.assignment import Rule, Worker, decide_owner, is_target, next_level_up
from services.routing.domain.errors import (
    CaseClosed,
    DispatchRefused,
    InvalidGridFile,
    InvalidRule,
    NoRoster,
    OutsideArea,
    UnknownIncident,
    UnknownPlace,
    UnknownUnit,
    UnknownWorker,
)
from services.routing.domain.grid_import import ImportedGrids, overlapping_grids, parse_features, tiling_bounds
from services.routing.domain.locator import Located, Locator
from services.routing.domain.registry import ancestors
from services.routing.domain.roster import Roster, build_roster
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.categories import CATEGORY_CODES
from shared.errors import Invalid
from shared.events.envelope import Envelope
from shared.events.intake import (
    IncidentClosed,
    IncidentMerged,
    IncidentReceived,
    IncidentRejected,
    IncidentReopened,
    IncidentReturned,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable, Owner
from shared.messagebus import Command


class Registry(Protocol):
    """The grid registry loaded in memory (adapters/repository.py's RegistryCache, reloaded when it changes)."""

    async def locator(self) -> Locator: ...


# ---- the registry, units, workers, rosters, rules ---------------------------------------------------------

async def import_grids(cmd: c.ImportGrids, uow: RoutingUnitOfWork, overlap_tolerance_m2: float) -> ImportedGrids:
    """All or nothing: every feature valid, no comprehensive grid overlapping another, nor a micro grid
    another (of the file or of the registry), else nothing is written and every reason is given."""
    async with uow:
        # One import at a time: two files checked against the same registry could overlap each other.
        await uow.grids.lock_registry()
        grids, errors = parse_features(cmd.collection, await uow.grids.codes())
        bounds = tiling_bounds(grids)
        registered = await uow.grids.tiling_within(bounds, [g.code for g in grids]) if bounds else []
        errors += overlapping_grids(grids, registered, overlap_tolerance_m2)
        if errors:
            raise InvalidGridFile(sorted(errors, key=lambda e: e.index))
        version = await uow.grids.put(grids)
        await uow.commit()
    return ImportedGrids(imported=len(grids), registry_version=version)


async def put_unit(cmd: c.PutUnit, uow: RoutingUnitOfWork) -> None:
    async with uow:
        await uow.units.put(cmd.unit)
        await uow.commit()


async def put_worker(cmd: c.PutWorker, uow: RoutingUnitOfWork) -> None:
    """A worker under a unit that does not exist is refused (UnknownUnit): nothing changes."""
    async with uow:
        if cmd.unit_id is not None and await uow.units.get(cmd.unit_id) is None:
            raise UnknownUnit(cmd.unit_id)
        await uow.workers.put(Worker(cmd.worker_id, cmd.name, cmd.phone, cmd.unit_id, cmd.grid_codes, cmd.on_duty))
        await uow.commit()


async def put_roster(cmd: c.PutRoster, uow: RoutingUnitOfWork) -> Roster:
    """Replace a worker's duty roster; RosterRefused names what is wrong, UnknownWorker an unknown worker."""
    roster = build_roster(cmd.weekly, cmd.periods)
    async with uow:
        if await uow.workers.get(cmd.worker_id) is None:
            raise UnknownWorker(cmd.worker_id)
        await uow.workers.put_roster(cmd.worker_id, roster)
        await uow.commit()
    return roster


async def delete_roster(cmd: c.DeleteRoster, uow: RoutingUnitOfWork) -> None:
    """Back to the on_duty switch alone."""
    async with uow:
        if not await uow.workers.delete_roster(cmd.worker_id):
            raise NoRoster(cmd.worker_id)
        await uow.commit()


async def put_dedicated_categories(cmd: c.PutDedicatedCategories, uow: RoutingUnitOfWork) -> list[str]:
    """What a school, a hospital... handles itself; every other category reported inside it goes to the
    territory. Unknown category codes refuse the whole list."""
    unknown = sorted(set(cmd.categories) - CATEGORY_CODES)
    if unknown:
        raise Invalid(f"unknown categories: {', '.join(unknown)}", field="categories", type_="unknown_category")
    categories = sorted(set(cmd.categories))
    async with uow:
        await uow.dedicated_categories.replace(cmd.dedicated_type, categories)
        await uow.commit()
    return categories


async def put_rules(cmd: c.PutRules, uow: RoutingUnitOfWork) -> int:
    """Every rule checked before any is stored: one wrong owner refuses them all."""
    rules = [(entry.category, entry.urgency, _rule(index, entry)) for index, entry in enumerate(cmd.rules)]
    async with uow:
        for category, urgency, rule in rules:
            await uow.rules.put(category, urgency, rule)
        await uow.commit()
    return len(rules)


def _rule(index: int, entry: c.RuleEntry) -> Rule:
    """The entry's rule, or InvalidRule naming the field to blame by its place in the list given."""
    try:
        return Rule(entry.owner, entry.co_owner)
    except ValueError as exc:
        field = "co_owner" if is_target(entry.owner) else "owner"
        raise InvalidRule(str(exc), field=f"{index}.{field}") from exc


async def load_directory(cmd: c.LoadDirectory, uow: RoutingUnitOfWork) -> None:
    """A city's units and workers (and the rosters given with them), all or nothing."""
    async with uow:
        await _check_units_of(cmd.workers, {unit.id for unit in cmd.units}, uow)
        await uow.units.put_many(list(cmd.units))
        await uow.workers.put_many(list(cmd.workers))
        for worker in cmd.workers:
            if worker.roster is not None:
                await uow.workers.put_roster(worker.id, worker.roster)
        await uow.commit()


async def _check_units_of(workers: tuple[Worker, ...], loaded: set[str], uow: RoutingUnitOfWork) -> None:
    """Each worker's unit is one loaded with it or one already stored, else UnknownUnit names the first worker
    whose unit is neither."""
    named = sorted({w.unit_id for w in workers if w.unit_id is not None} - loaded)
    missing = set(named) - await uow.units.known(named) if named else set()
    for index, worker in enumerate(workers):
        if worker.unit_id in missing:
            raise UnknownUnit(worker.unit_id, field=f"workers.{index}.unit_id")


# ---- the command centre ------------------------------------------------------------------------------------

async def dispatch_incident(cmd: c.DispatchIncident, uow: RoutingUnitOfWork) -> Owner:
    """派遣/改派 by hand: the command centre's word, also final after two returns. At any open state of the case
    (DOMAIN §4), by a caller whose area covers both the case and the unit it goes to; the co-owners stay."""
    async with uow:
        routed = await uow.assignments.routed(cmd.incident_id)
        if routed is None or not cmd.actor.sees(routed.place_code):
            raise UnknownIncident(cmd.incident_id)  # outside the caller's area: as if it did not exist
        if routed.closed:
            raise CaseClosed(cmd.incident_id)
        unit = await uow.units.get(cmd.unit_id)
        if unit is None:
            raise DispatchRefused(f"no unit {cmd.unit_id!r}", field="unit")
        if not cmd.actor.covers(unit.area):
            raise OutsideArea(f"unit {cmd.unit_id!r} works outside the caller's area")
        worker = await uow.workers.get(cmd.worker_id) if cmd.worker_id else None
        if cmd.worker_id and (worker is None or worker.unit_id != unit.id):
            raise DispatchRefused(f"worker {cmd.worker_id!r} does not belong to unit {cmd.unit_id!r}",
                                  field="worker")
        owner = Owner(unit_id=unit.id, unit_name=unit.name, unit_kind=unit.kind,
                      worker_id=worker.id if worker else None, worker_name=worker.name if worker else None,
                      worker_phone=worker.phone if worker else None)
        now = uow.clock.now()
        why = f"dispatched by {cmd.actor.sub}: {cmd.reason}"
        await uow.assignments.record(cmd.incident_id, now, "dispatched", routed.place_code, why, owner,
                                     routed.co_owners)
        uow.emit(IncidentReassigned(incident_id=cmd.incident_id, at=now, category=routed.category,
                                    urgency=routed.urgency, **_hierarchy(routed.place_code), owner=owner,
                                    co_owners=list(routed.co_owners), previous_unit_id=routed.current_unit_id,
                                    reason=why))
        await uow.commit()
    return owner


# ---- intake's events ---------------------------------------------------------------------------------------

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


async def route_incident(event: IncidentReceived, envelope: Envelope, uow: RoutingUnitOfWork,
                         registry: Registry) -> None:
    """Place the case and give it an owner; a case that cannot be placed goes to the centre's queue."""
    if not await uow.assignments.remember(event):
        return  # already routed (a re-published event with a new id)
    if event.duplicate_of is not None:
        await uow.assignments.record(event.incident_id, event.at, "unroutable", event.grid_code,
                                     f"duplicate of {event.duplicate_of}: follows its master, not routed")
        return
    located, found_by = place_incident(event, await registry.locator())
    now = uow.clock.now()
    common: dict[str, Any] = {"incident_id": event.incident_id, "at": now, "category": event.category,
                              "urgency": event.urgency}
    if located is None:
        reason = f"{found_by}: nothing matched the registry, in the command centre's queue"
        await uow.assignments.record(event.incident_id, now, "unroutable", None, reason)
        uow.emit(IncidentUnroutable(**common, reason=reason), cause=envelope)
        return
    dedicated = located.grid if located.grid is not None and located.grid.kind == "dedicated" else None
    if dedicated and not await uow.dedicated_categories.owns(dedicated.dedicated_type, event.category):
        # A dedicated grid handles only its own categories (a 征地拆迁 dispute in a school is the territory's).
        located = located.outside_dedicated()
        found_by += (f"; {event.category} is not for the {dedicated.dedicated_type} grid {dedicated.code}: "
                     "the territory takes it")
    place = located.place.code
    context = await uow.assignments.decision_context(
        place, located.grid.code if located.grid else None, event.category, event.urgency)
    rule = with_emergency_co_owner(context.rule, event.urgency)
    # Who is on duty now, when the owner has to act (an offline report may carry an old reported_at).
    decision = decide_owner(located, found_by, context.units, context.workers, rule, at=now)
    hierarchy = _hierarchy(place)
    if decision.owner is None:
        await uow.assignments.record(event.incident_id, now, "unroutable", place, decision.reason)
        uow.emit(IncidentUnroutable(**common, **hierarchy, reason=decision.reason), cause=envelope)
        return
    await uow.assignments.record(event.incident_id, now, "assigned", place, decision.reason, decision.owner,
                                 decision.co_owners)
    uow.emit(IncidentAssigned(**common, **hierarchy, owner=decision.owner, co_owners=list(decision.co_owners),
                              reason=decision.reason), cause=envelope)


def with_emergency_co_owner(rule: Rule, urgency: str) -> Rule:
    """Emergencies also go to the district (协办) unless a rule names another co-owner (DOMAIN.md §2 proposal)."""
    if urgency == "emergency" and rule.co_owner is None and rule.owner != "district":
        return Rule(rule.owner, "district")
    return rule


async def reassign_returned(event: IncidentReturned, envelope: Envelope, uow: RoutingUnitOfWork,
                            registry: Registry) -> None:
    """退单: one level up from the unit that returned it; after two returns the centre decides (终审)."""
    routed = await uow.assignments.routed(event.incident_id)
    if routed is None:
        raise UnknownIncident(event.incident_id)
    now = uow.clock.now()
    place = routed.place_code
    common: dict[str, Any] = {"incident_id": event.incident_id, "at": now, "category": routed.category,
                              "urgency": routed.urgency, **_hierarchy(place)}
    level = next_level_up(routed.current_unit_kind or "grid")
    if event.return_count >= 2 or level is None or place is None:
        reason = (f"returned {event.return_count} time(s) ({event.reason}): "
                  "in the command centre's queue for a final dispatch (终审)")
        await uow.assignments.record(event.incident_id, now, "unroutable", place, reason)
        uow.emit(IncidentUnroutable(**common, reason=reason), cause=envelope)
        return
    located = (await registry.locator()).place(place)
    if located is None:
        raise UnknownPlace(place)
    units = await uow.units.covering(list(ancestors(place).values()))
    decision = decide_owner(located, f"returned by {routed.current_unit_id} ({event.reason}); escalated",
                            units, [], Rule(level), escalating=True)
    if decision.owner is None:
        await uow.assignments.record(event.incident_id, now, "unroutable", place, decision.reason)
        uow.emit(IncidentUnroutable(**common, reason=decision.reason), cause=envelope)
        return
    # 协办 stay with the case (DOMAIN §4): the co-owners are kept, whoever leads it now.
    await uow.assignments.record(event.incident_id, now, "reassigned", place, decision.reason, decision.owner,
                                 routed.co_owners)
    uow.emit(IncidentReassigned(**common, owner=decision.owner, co_owners=list(routed.co_owners),
                                previous_unit_id=routed.current_unit_id, reason=decision.reason), cause=envelope)


async def close_case(event: IncidentClosed | IncidentMerged | IncidentRejected, envelope: Envelope,
                     uow: RoutingUnitOfWork) -> None:
    """A closed, merged or rejected case is no one's to dispatch any more."""
    await uow.assignments.close(event.incident_id, event.at)


async def reopen_case(event: IncidentReopened, envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """重办: the case is open again, with the same owner (DOMAIN §4), and may be dispatched."""
    await uow.assignments.reopen(event.incident_id)


def _hierarchy(place_code: str | None) -> dict[str, str | None]:
    levels = ancestors(place_code) if place_code else {}
    return {"grid_code": levels.get("grid"), "community_code": levels.get("community"),
            "street_code": levels.get("street"), "district_code": levels.get("district")}


COMMAND_HANDLERS: dict[type[Command[Any]], Callable[..., Awaitable[Any]]] = {
    c.ImportGrids: import_grids,
    c.PutUnit: put_unit,
    c.PutWorker: put_worker,
    c.PutRoster: put_roster,
    c.DeleteRoster: delete_roster,
    c.PutRules: put_rules,
    c.PutDedicatedCategories: put_dedicated_categories,
    c.LoadDirectory: load_directory,
    c.DispatchIncident: dispatch_incident,
}

EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentReceived.type: route_incident,
    IncidentReturned.type: reassign_returned,
    IncidentClosed.type: close_case,
    IncidentMerged.type: close_case,
    IncidentRejected.type: close_case,
    IncidentReopened.type: reopen_case,
}
