"""Who owns a located case (DOMAIN.md §2 属地管理): the grid's worker on duty at the time of the decision
(switch and roster), else the territorial unit one level up at a time (community, street, district:
属地兜底). Pure: inputs in, decision out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.routing.domain.locator import Located
from services.routing.domain.roster import Roster
from shared.calendar import ZONE
from shared.events.intake import IncidentReceived, Point
from shared.events.routing import Owner

TERRITORIAL_LEVELS = ("grid", "community", "street", "district")
# The decisions an incident's routing history records.
AssignmentKind = Literal["assigned", "reassigned", "unroutable", "dispatched"]


@dataclass(frozen=True)
class Unit:
    id: str
    kind: str
    name: str
    area: tuple[str, ...]
    department: str | None = None


@dataclass(frozen=True)
class Worker:
    id: str
    name: str
    phone: str
    unit_id: str | None
    grid_codes: tuple[str, ...]
    on_duty: bool                 # the switch: off takes the worker off duty whatever the roster says
    roster: Roster | None = None  # None: on duty whenever the switch is on

    def on_duty_at(self, at: datetime | None) -> bool:
        if not self.on_duty:
            return False
        return self.roster is None or at is None or self.roster.on_duty_at(at)


@dataclass(frozen=True)
class Rule:
    """Who owns a category × urgency: a territorial level or `dept:<kind>`, and an optional co-owner (协办)."""

    owner: str
    co_owner: str | None = None

    def __post_init__(self) -> None:
        for target in filter(None, (self.owner, self.co_owner)):
            if not is_target(target):
                raise ValueError(f"owner must be one of {', '.join(TERRITORIAL_LEVELS)} or dept:<kind>, not {target!r}")


def is_target(target: str) -> bool:
    """Whether a rule may name this as owner or co-owner: a territorial level or `dept:<kind>`."""
    return target in TERRITORIAL_LEVELS or (target.startswith("dept:") and len(target) > 5)


DEFAULT_RULE = Rule("grid")


@dataclass(frozen=True)
class DecisionContext:
    """What `decide_owner` reads for a place: the units of the place and the levels above it (of the departments,
    those the rule names), the workers of its grid (with their rosters), and the rule of the case's category ×
    urgency."""

    units: list[Unit]
    workers: list[Worker]
    rule: Rule


@dataclass(frozen=True)
class ContextKey:
    """What a decision context is read for: the place (a grid, or the most specific level known), its grid when
    it is one, the case's category and urgency."""

    place_code: str
    grid_code: str | None
    category: str
    urgency: str


@dataclass(frozen=True)
class FirstDecision:
    """A received case's first routing decision, written together with routing's copy of the case."""

    case: IncidentReceived
    at: datetime
    kind: AssignmentKind
    place_code: str | None
    reason: str
    owner: Owner | None = None
    co_owners: tuple[Owner, ...] = ()


@dataclass(frozen=True)
class RoutedIncident:
    """Routing's copy of a case: what it is, where routing placed it, and who owns it now."""

    incident_id: uuid.UUID
    category: str
    urgency: str
    place_code: str | None       # the most specific registry code known (grid, or community/street/district)
    current_unit_id: str | None
    current_unit_kind: str | None
    co_owners: tuple[Owner, ...] = ()  # 协办: kept across returns and dispatches
    closed: bool = False               # closed, merged or rejected (until reopened): nothing to dispatch
    # Where the report said it was, to place it again (a 非本辖区 return)
    location: Point | None = None
    address: str | None = None
    reported_grid_code: str | None = None


@dataclass(frozen=True)
class Decision:
    owner: Owner | None
    reason: str
    co_owners: tuple[Owner, ...] = ()


def territorial_unit(units: list[Unit], level: str, code: str) -> Unit | None:
    """The unit of `level` whose area names exactly this code (lowest id if several)."""
    matching = sorted((u for u in units if u.kind == level and code in u.area), key=lambda u: u.id)
    return matching[0] if matching else None


def department_unit(units: list[Unit], department: str, grid_code: str) -> Unit | None:
    """The department of that kind whose area covers the grid (the most local one wins)."""
    matching = [u for u in units if u.kind == "department" and u.department == department
                and any(grid_code.startswith(prefix) for prefix in u.area)]
    return max(matching, key=lambda u: (max(len(p) for p in u.area), u.id), default=None)


def next_level_up(kind: str) -> str | None:
    """退单 escalates one level: grid → community → street → district; a department → the district."""
    if kind == "department":
        return "district"
    index = TERRITORIAL_LEVELS.index(kind) if kind in TERRITORIAL_LEVELS else len(TERRITORIAL_LEVELS)
    return TERRITORIAL_LEVELS[index + 1] if index + 1 < len(TERRITORIAL_LEVELS) else None


def decide_owner(located: Located, found_by: str, units: list[Unit], workers: list[Worker],
                 rule: Rule = DEFAULT_RULE, at: datetime | None = None, escalating: bool = False) -> Decision:
    """The owner by rule, from the place up (属地管理); never nobody while a territorial unit exists.
    `escalating`: a return going one level up, which a dedicated grid does not pull back to itself."""
    place = located.place
    where = f"{found_by} in {place.level} {place.code} {place.name}"
    target = rule.owner
    if (located.grid is not None and located.grid.kind == "dedicated" and not target.startswith("dept:")
            and not escalating):
        target = "grid"  # a dedicated grid (school, hospital…) handles what happens inside it
        where += " (dedicated grid)"
    decision = _resolve(target, located, units, workers, where, at)
    if decision.owner is None or rule.co_owner is None:
        return decision
    co = _resolve(rule.co_owner, located, units, [], where, at)
    if co.owner is None or co.owner.unit_id == decision.owner.unit_id:
        return decision
    return Decision(decision.owner, f"{decision.reason}; co-owner (协办) {co.owner.unit_name}", (co.owner,))


def _resolve(target: str, located: Located, units: list[Unit], workers: list[Worker], where: str,
             at: datetime | None) -> Decision:
    place = located.place
    if target.startswith("dept:"):
        department = target[5:]
        unit = department_unit(units, department, place.code)
        if unit:
            return Decision(_owner(unit), f"{where}; rule: department {department} → {unit.name}")
        where = f"{where}; no {department} department here"
        target = "district"
    missing = ""
    start = TERRITORIAL_LEVELS.index(target)
    known = TERRITORIAL_LEVELS.index(place.level)
    if start < known:
        # The address named only a community (street, district): nothing below it can take the case.
        missing = f"no {target} known for the place"
        start = known
    for level in TERRITORIAL_LEVELS[start:]:
        if level == "grid":
            grid = located.grid
            assert grid is not None
            mine = sorted((w for w in workers if grid.code in w.grid_codes), key=lambda w: w.id)
            on_duty = [w for w in mine if w.on_duty_at(at)]
            grid_unit = territorial_unit(units, "grid", grid.code)
            if on_duty and grid_unit:
                worker = on_duty[0]
                return Decision(_owner(grid_unit, worker), f"{where}; grid worker {worker.name} on duty")
            missing = "no grid worker on duty" if grid_unit else "the grid has no unit"
            off_by_roster = [w.name for w in mine if w.on_duty and not w.on_duty_at(at)]
            if grid_unit and off_by_roster and at is not None:
                missing += f" at {at.astimezone(ZONE):%Y-%m-%d %H:%M} ({'、'.join(off_by_roster)} off by the roster)"
            continue
        info = {"community": located.community, "street": located.street, "district": located.district}[level]
        unit = territorial_unit(units, level, info.code) if info else None
        if unit:
            why = f"{missing}: {level} {unit.name} takes it (属地兜底)" if missing else f"rule: {level} {unit.name}"
            return Decision(_owner(unit), f"{where}; {why}")
        missing = f"{missing}, no {level} unit" if missing else f"no {level} unit"
    return Decision(None, f"{where}; {missing}")


def _owner(unit: Unit, worker: Worker | None = None) -> Owner:
    return Owner(unit_id=unit.id, unit_name=unit.name, unit_kind=unit.kind,
                 worker_id=worker.id if worker else None, worker_name=worker.name if worker else None,
                 worker_phone=worker.phone if worker else None)
