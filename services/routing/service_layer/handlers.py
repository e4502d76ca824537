"""Routing's use cases: route each received incident and each returned one (events from intake); keep the grid
registry, units, workers, rosters and rules; the command centre's dispatch by hand (commands).

The bus (shared/messagebus.py, wired in bootstrap.py) gives each handler its unit of work and what else it
names: the in-memory registry (`registry`), the overlap tolerance of grid imports (`overlap_tolerance_m2`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from services.routing.domain import commands as c
from services.routing.domain.assignment import (
    ContextKey,
    Decision,
    DecisionContext,
    FirstDecision,
    RoutedIncident,
    Rule,
    Worker,
    decide_owner,
    is_target,
    next_level_up,
)
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
from shared.events.envelope import Envelope, Event
from shared.events.intake import (
    IncidentClosed,
    IncidentMerged,
    IncidentReceived,
    IncidentReferred,
    IncidentRejected,
    IncidentReopened,
    IncidentRestored,
    IncidentReturned,
    Point,
)
from shared.events.routing import CentreQueue, IncidentAssigned, IncidentReassigned, IncidentUnroutable, Owner
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
        # The shapes are built and compared in a worker thread: a city's file takes seconds of CPU, which would
        # otherwise stall every other request of the process.
        grids, errors = await asyncio.to_thread(parse_features, cmd.collection, await uow.grids.codes())
        bounds = tiling_bounds(grids)
        registered = await uow.grids.tiling_within(bounds, [g.code for g in grids]) if bounds else []
        errors += await asyncio.to_thread(overlapping_grids, grids, registered, overlap_tolerance_m2)
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
        if routed is None:
            raise UnknownIncident(cmd.incident_id)
        if not cmd.actor.sees(routed.place_code):
            raise OutsideArea("the case lies outside the caller's area")  # an action elsewhere: 403 (DESIGN §5)
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

def place_incident(location: Point | None, address: str | None, grid_code: str | None,
                   locator: Locator) -> tuple[Located | None, str]:
    """Where a case is: by coordinates, else by address, else by the reported grid code (DESIGN §6).
    The text says which path placed it and why the ones before it did not."""
    misses: list[str] = []
    if location is not None:
        located = locator.locate(location.lon, location.lat)
        if located is not None:
            return located, "located by coordinates"
        misses.append(f"coordinates ({location.lon}, {location.lat}) are outside every grid")
    if address:
        located, match = locator.match_address(address)
        if located is not None:
            return located, "; ".join([*misses, f"placed by address ({match.note})"])
        misses.append(f"address {address[:100]!r}: {match.note}")
    if grid_code:
        located = locator.place(grid_code)
        if located is not None:
            return located, "; ".join([*misses, "by the reported grid code"])
        misses.append(f"grid code {grid_code} is not in the registry")
    return None, "; ".join(misses) or "no coordinates, address or grid code"


async def route_incident(event: IncidentReceived, envelope: Envelope, uow: RoutingUnitOfWork,
                         registry: Registry) -> None:
    """Place the case and give it an owner; a case that cannot be placed goes to the centre's queue (a run of
    received cases: `route_incidents`)."""
    await route_incidents([(event, envelope)], uow, registry)


async def route_incidents(received: list[tuple[IncidentReceived, Envelope]], uow: RoutingUnitOfWork,
                          registry: Registry) -> None:
    """Place each case and give it an owner; a case that cannot be placed goes to the centre's queue. The run's
    decision contexts are read in one statement, and routing's copies of the cases are written with their first
    decisions in another (each case once in a run: the consumer cuts it at a repeat). A case routing knows already
    (a re-published event with a new id) is left as it is, and nothing is emitted for it."""
    locator = await registry.locator()
    # (position in the run, the decision, what it emits, its cause): emitted in the run's order, as one by one.
    decisions: list[tuple[int, FirstDecision, Event | None, Envelope]] = []
    to_decide: list[tuple[int, IncidentReceived, Envelope, Located, str, datetime]] = []
    for position, (event, envelope) in enumerate(received):
        if event.duplicate_of is not None:
            reason = f"duplicate of {event.duplicate_of}: follows its master, not routed"
            decisions.append((position, FirstDecision(event, event.at, "unroutable", event.grid_code, reason), None,
                              envelope))
            continue
        located, found_by = place_incident(event.location, event.address, event.grid_code, locator)
        now = uow.clock.now()
        if located is None:
            reason = f"{found_by}: nothing matched the registry, in the command centre's queue"
            unroutable = IncidentUnroutable(**_common(event, now), reason=reason)
            decisions.append((position, FirstDecision(event, now, "unroutable", None, reason), unroutable, envelope))
            continue
        located, found_by = await _outside_dedicated(uow, located, found_by, event.category)
        to_decide.append((position, event, envelope, located, found_by, now))
    contexts = await uow.assignments.decision_contexts([_context_key(located, event.category, event.urgency)
                                                        for _, event, _, located, _, _ in to_decide])
    for (position, event, envelope, located, found_by, now), context in zip(to_decide, contexts, strict=True):
        decision = _decided(located, found_by, event.urgency, context, now)
        place = located.place.code
        hierarchy = _hierarchy(place)
        if decision.owner is None:
            unroutable = IncidentUnroutable(**_common(event, now), **hierarchy, reason=decision.reason)
            decisions.append((position, FirstDecision(event, now, "unroutable", place, decision.reason), unroutable,
                              envelope))
            continue
        assigned = IncidentAssigned(**_common(event, now), **hierarchy, owner=decision.owner,
                                    co_owners=list(decision.co_owners), reason=decision.reason)
        decisions.append((position, FirstDecision(event, now, "assigned", place, decision.reason, decision.owner,
                                                  tuple(decision.co_owners)), assigned, envelope))
    decisions.sort(key=lambda decision: decision[0])
    new = await uow.assignments.record_firsts([first for _, first, _, _ in decisions])
    for _, first, emitted, envelope in decisions:
        if emitted is not None and first.case.incident_id in new:
            uow.emit(emitted, cause=envelope)


def _common(event: IncidentReceived, now: datetime) -> dict[str, Any]:
    return {"incident_id": event.incident_id, "at": now, "category": event.category, "urgency": event.urgency}


async def _decide(uow: RoutingUnitOfWork, located: Located, found_by: str, category: str, urgency: str,
                  now: datetime) -> tuple[Located, Decision]:
    """Who owns a located case by the rules (one case: `route_incidents` reads a run's contexts at once)."""
    located, found_by = await _outside_dedicated(uow, located, found_by, category)
    [context] = await uow.assignments.decision_contexts([_context_key(located, category, urgency)])
    return located, _decided(located, found_by, urgency, context, now)


async def _outside_dedicated(uow: RoutingUnitOfWork, located: Located, found_by: str,
                             category: str) -> tuple[Located, str]:
    """A dedicated grid handles only its own categories (a 征地拆迁 dispute in a school is the territory's)."""
    dedicated = located.grid if located.grid is not None and located.grid.kind == "dedicated" else None
    if dedicated and not await uow.dedicated_categories.owns(dedicated.dedicated_type, category):
        located = located.outside_dedicated()
        found_by += (f"; {category} is not for the {dedicated.dedicated_type} grid {dedicated.code}: "
                     "the territory takes it")
    return located, found_by


def _context_key(located: Located, category: str, urgency: str) -> ContextKey:
    return ContextKey(located.place.code, located.grid.code if located.grid else None, category, urgency)


def _decided(located: Located, found_by: str, urgency: str, context: DecisionContext, now: datetime) -> Decision:
    """The rule's owner among the units of the place and the workers on duty now (an offline report may carry an
    old reported_at)."""
    rule = with_emergency_co_owner(context.rule, urgency)
    return decide_owner(located, found_by, context.units, context.workers, rule, at=now)


def with_emergency_co_owner(rule: Rule, urgency: str) -> Rule:
    """Emergencies also go to the district (协办) unless a rule names another co-owner (DOMAIN.md §2 proposal)."""
    if urgency == "emergency" and rule.co_owner is None and rule.owner != "district":
        return Rule(rule.owner, "district")
    return rule


async def reassign_returned(event: IncidentReturned, envelope: Envelope, uow: RoutingUnitOfWork,
                            registry: Registry) -> None:
    """退单, by its reason (DOMAIN §4): 非本辖区 → placed again by where it is (sideways); 非本单位职责 → the
    department the category's rule names, else the centre's dispatcher; 信息不全 and 重复 → the centre (to
    complete it, to merge it); any other reason → one level up. After two returns the centre decides (终审)."""
    routed = await _routed(uow, event.incident_id)
    why = f"returned by {routed.current_unit_id} ({event.reason})"
    if event.return_count >= 2:
        await _to_the_centre(uow, envelope, routed, f"returned {event.return_count} time(s) ({event.reason}): "
                             "in the command centre's queue for a final dispatch (终审)", "final_dispatch")
    elif event.kind == "not_our_area":
        await _place_again(uow, envelope, routed, registry, why)
    elif event.kind == "not_our_duty":
        await _by_duty(uow, envelope, routed, registry, why)
    elif event.kind in ("incomplete", "duplicate"):
        task = "to complete it" if event.kind == "incomplete" else "to merge it with the case it repeats"
        await _to_the_centre(uow, envelope, routed, f"{why}: in the command centre's queue {task}",
                             "to_complete" if event.kind == "incomplete" else "to_merge")
    else:
        await _one_level_up(uow, envelope, routed, registry, f"{why}; escalated")


async def pass_up(event: IncidentReferred, envelope: Envelope, uow: RoutingUnitOfWork, registry: Registry) -> None:
    """上报: one level up from the unit that passed it, however many times; not a 退单 (DOMAIN §4)."""
    routed = await _routed(uow, event.incident_id)
    await _one_level_up(uow, envelope, routed, registry,
                        f"referred up by {routed.current_unit_id} (上报: {event.reason})")


async def close_case(event: IncidentClosed | IncidentMerged | IncidentRejected, envelope: Envelope,
                     uow: RoutingUnitOfWork) -> None:
    """A closed, merged or rejected case is no one's to dispatch any more."""
    await uow.assignments.close(event.incident_id, event.at)


async def reopen_case(event: IncidentReopened, envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """重办: the case is open again, with the same owner (DOMAIN §4), and may be dispatched."""
    await uow.assignments.reopen(event.incident_id)


async def restore_case(event: IncidentRestored, envelope: Envelope, uow: RoutingUnitOfWork) -> None:
    """12345 refused our 退单: the order is open again with the unit that had it; a case that had none waits in
    the centre's queue for the dispatcher."""
    await uow.assignments.reopen(event.incident_id)
    if event.unit_id is None:
        routed = await _routed(uow, event.incident_id)
        await _to_the_centre(uow, envelope, routed, "12345 refused our 退单 (不予立案): the command centre "
                             "dispatches it")


async def _routed(uow: RoutingUnitOfWork, incident_id: uuid.UUID) -> RoutedIncident:
    routed = await uow.assignments.routed(incident_id)
    if routed is None:
        raise UnknownIncident(incident_id)
    return routed


async def _one_level_up(uow: RoutingUnitOfWork, envelope: Envelope, routed: RoutedIncident, registry: Registry,
                        why: str) -> None:
    level = next_level_up(routed.current_unit_kind or "grid")
    place = routed.place_code
    if level is None or place is None:
        await _to_the_centre(uow, envelope, routed, f"{why}: no level above, in the command centre's queue")
        return
    located = (await registry.locator()).place(place)
    if located is None:
        raise UnknownPlace(place)
    units = await uow.units.covering(list(ancestors(place).values()))
    await _reassign(uow, envelope, routed, decide_owner(located, why, units, [], Rule(level), escalating=True))


async def _place_again(uow: RoutingUnitOfWork, envelope: Envelope, routed: RoutedIncident, registry: Registry,
                       why: str) -> None:
    """非本辖区: where the report says the case is decides; if that is the returning unit's own area, the centre."""
    located, found_by = place_incident(routed.location, routed.address, routed.reported_grid_code,
                                       await registry.locator())
    if located is None:
        await _to_the_centre(uow, envelope, routed, f"{why}: {found_by}; in the command centre's queue")
        return
    located, decision = await _decide(uow, located, f"{why}; placed again: {found_by}", routed.category,
                                      routed.urgency, uow.clock.now())
    if decision.owner is not None and decision.owner.unit_id == routed.current_unit_id:
        await _to_the_centre(uow, envelope, routed, f"{why}, but the place is its own area: the command centre "
                             "decides")
        return
    await _reassign(uow, envelope, replace(routed, place_code=located.place.code), decision)


async def _by_duty(uow: RoutingUnitOfWork, envelope: Envelope, routed: RoutedIncident, registry: Registry,
                   why: str) -> None:
    """非本单位职责: the department the category's rule names, when that is not who returned it; else the centre's
    dispatcher decides whose duty it is."""
    place = routed.place_code
    located = (await registry.locator()).place(place) if place else None
    if located is None:
        await _to_the_centre(uow, envelope, routed, f"{why}: in the command centre's queue")
        return
    [context] = await uow.assignments.decision_contexts([ContextKey(place or "", None, routed.category,
                                                                    routed.urgency)])
    if not context.rule.owner.startswith("dept:"):
        await _to_the_centre(uow, envelope, routed, f"{why}: the rule names no department; the command centre's "
                             "dispatcher decides")
        return
    decision = decide_owner(located, why, context.units, [], Rule(context.rule.owner), escalating=True)
    if decision.owner is None or decision.owner.unit_id == routed.current_unit_id:
        await _to_the_centre(uow, envelope, routed, f"{why}: the rule's department is the one that returned it; "
                             "the command centre's dispatcher decides")
        return
    await _reassign(uow, envelope, routed, decision)


async def _reassign(uow: RoutingUnitOfWork, envelope: Envelope, routed: RoutedIncident, decision: Decision) -> None:
    """The case to its new lead owner; its co-owners (协办) stay with it (DOMAIN §4)."""
    if decision.owner is None:
        await _to_the_centre(uow, envelope, routed, decision.reason)
        return
    now = uow.clock.now()
    await uow.assignments.record(routed.incident_id, now, "reassigned", routed.place_code, decision.reason,
                                 decision.owner, routed.co_owners)
    uow.emit(IncidentReassigned(incident_id=routed.incident_id, at=now, category=routed.category,
                                urgency=routed.urgency, **_hierarchy(routed.place_code), owner=decision.owner,
                                co_owners=list(routed.co_owners), previous_unit_id=routed.current_unit_id,
                                reason=decision.reason), cause=envelope)


async def _to_the_centre(uow: RoutingUnitOfWork, envelope: Envelope, routed: RoutedIncident, reason: str,
                         queue: CentreQueue = "dispatch") -> None:
    now = uow.clock.now()
    await uow.assignments.record(routed.incident_id, now, "unroutable", routed.place_code, reason)
    uow.emit(IncidentUnroutable(incident_id=routed.incident_id, at=now, category=routed.category,
                                urgency=routed.urgency, **_hierarchy(routed.place_code), reason=reason, queue=queue),
             cause=envelope)


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
    IncidentReferred.type: pass_up,
    IncidentClosed.type: close_case,
    IncidentMerged.type: close_case,
    IncidentRejected.type: close_case,
    IncidentReopened.type: reopen_case,
    IncidentRestored.type: restore_case,
}

# A run of received cases in one consumer batch: one statement per step for the run (the hot path).
BATCH_EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentReceived.type: route_incidents,
}
