"""In-memory stand-ins for routing's repositories, unit of work and registry (unit tests: no sockets).

The repositories keep their rows in a `RoutingStore` shared by every unit of work the bus makes (one per
command); a unit of work left without commit puts the store back as it found it, as a rolled back transaction.
Each fake answers as its SQL does (adapters/queries.sql): the rule lookup's order, the units of a place, a
worker's roster kept when the worker is put again.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import shapely
from shapely.geometry.base import BaseGeometry

from services.routing.bootstrap import message_bus
from services.routing.domain.assignment import (
    DEFAULT_RULE,
    AssignmentKind,
    ContextKey,
    DecisionContext,
    FirstDecision,
    RoutedIncident,
    Rule,
    Unit,
    Worker,
)
from services.routing.domain.grid_import import GridFeature
from services.routing.domain.locator import Locator
from services.routing.domain.registry import ancestors
from services.routing.domain.roster import Roster
from services.routing.service_layer.unit_of_work import SOURCE, RoutingUnitOfWork
from shared.clock import Clock
from shared.events import parse_event
from shared.events.envelope import Envelope, Event
from shared.events.intake import Point
from shared.events.routing import Owner
from shared.messagebus import MessageBus
from tests.support import FixedClock
from tests.unit.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai


class FakeGrids:
    def __init__(self) -> None:
        self.rows: dict[str, GridFeature] = {}
        self.version = 0

    async def lock_registry(self) -> None:
        pass  # one test, one task: nothing to wait for

    async def codes(self) -> set[str]:
        return set(self.rows)

    async def tiling_within(self, bounds: tuple[float, float, float, float],
                            except_codes: list[str]) -> list[tuple[str, str, BaseGeometry]]:
        area = shapely.box(*bounds)
        return [(g.code, g.layer, g.geometry) for g in self.rows.values()
                if g.layer and g.code not in except_codes and g.geometry.envelope.intersects(area)]

    async def put(self, grids: list[GridFeature]) -> int:
        self.rows.update((g.code, g) for g in grids)
        self.version += 1
        return self.version


class FakeUnits:
    def __init__(self) -> None:
        self.rows: dict[str, Unit] = {}

    async def get(self, unit_id: str) -> Unit | None:
        return self.rows.get(unit_id)

    async def known(self, unit_ids: list[str]) -> set[str]:
        return set(unit_ids) & set(self.rows)

    async def covering(self, codes: list[str]) -> list[Unit]:
        return [u for u in self.rows.values() if set(u.area) & set(codes)]

    async def put(self, unit: Unit) -> None:
        self.rows[unit.id] = unit

    async def put_many(self, units: list[Unit]) -> None:
        for unit in units:
            await self.put(unit)


class FakeWorkers:
    def __init__(self, units: FakeUnits) -> None:
        self.rows: dict[str, Worker] = {}
        self._units = units

    async def get(self, worker_id: str) -> Worker | None:
        return self.rows.get(worker_id)

    async def put(self, worker: Worker) -> None:
        if worker.unit_id is not None and worker.unit_id not in self._units.rows:
            raise KeyError(f"foreign key: no unit {worker.unit_id!r}")  # as worker.unit_id REFERENCES unit
        stored = self.rows.get(worker.id)
        self.rows[worker.id] = dataclasses.replace(worker, roster=stored.roster if stored else None)

    async def put_many(self, workers: list[Worker]) -> None:
        for worker in workers:
            await self.put(worker)

    async def put_roster(self, worker_id: str, roster: Roster) -> None:
        self.rows[worker_id] = dataclasses.replace(self.rows[worker_id], roster=roster)

    async def delete_roster(self, worker_id: str) -> bool:
        worker = self.rows.get(worker_id)
        if worker is None or worker.roster is None:
            return False
        self.rows[worker_id] = dataclasses.replace(worker, roster=None)
        return True


class FakeRules:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Rule] = {}

    async def put(self, category: str, urgency: str, rule: Rule) -> None:
        self.rows[(category, urgency)] = rule

    def for_case(self, category: str, urgency: str) -> Rule:
        """The most specific rule: category and urgency, then category, then urgency, then '*' × '*'."""
        for key in ((category, urgency), (category, "*"), ("*", urgency), ("*", "*")):
            if key in self.rows:
                return self.rows[key]
        return DEFAULT_RULE


class FakeDedicatedCategories:
    def __init__(self) -> None:
        self.rows: dict[str, set[str]] = {"school": {"safety.campus", "safety.fire"}}

    async def owns(self, dedicated_type: str | None, category: str) -> bool:
        return category in self.rows.get(dedicated_type or "", set())

    async def replace(self, dedicated_type: str, categories: list[str]) -> None:
        self.rows[dedicated_type] = set(categories)


@dataclass
class RoutedRow:
    incident_id: uuid.UUID
    category: str
    urgency: str
    place_code: str | None = None
    current_unit_id: str | None = None
    co_owners: list[Owner] = field(default_factory=list)
    closed_at: datetime | None = None
    location: Point | None = None
    address: str | None = None
    reported_grid_code: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    incident_id: uuid.UUID
    at: datetime
    kind: AssignmentKind
    unit_id: str | None
    worker_id: str | None
    place_code: str | None
    reason: str


class FakeAssignments:
    def __init__(self, units: FakeUnits, workers: FakeWorkers, rules: FakeRules) -> None:
        self.incidents: dict[uuid.UUID, RoutedRow] = {}
        self.history: list[HistoryRow] = []
        self._units, self._workers, self._rules = units, workers, rules

    def of(self, incident_id: uuid.UUID) -> list[HistoryRow]:
        """The incident's decisions, oldest first (for assertions)."""
        return [h for h in self.history if h.incident_id == incident_id]

    async def record_firsts(self, decisions: Sequence[FirstDecision]) -> set[uuid.UUID]:
        new: set[uuid.UUID] = set()
        for d in decisions:
            event = d.case
            if event.incident_id in self.incidents:
                continue
            self.incidents[event.incident_id] = RoutedRow(event.incident_id, event.category, event.urgency,
                                                          location=event.location, address=event.address,
                                                          reported_grid_code=event.grid_code)
            await self.record(event.incident_id, d.at, d.kind, d.place_code, d.reason, d.owner, d.co_owners)
            new.add(event.incident_id)
        return new

    async def routed(self, incident_id: uuid.UUID) -> RoutedIncident | None:
        row = self.incidents.get(incident_id)
        if row is None:
            return None
        unit = self._units.rows.get(row.current_unit_id) if row.current_unit_id else None
        return RoutedIncident(row.incident_id, row.category, row.urgency, row.place_code, row.current_unit_id,
                              unit.kind if unit else None, tuple(row.co_owners), row.closed_at is not None,
                              row.location, row.address, row.reported_grid_code)

    async def record(self, incident_id: uuid.UUID, at: datetime, kind: AssignmentKind, place_code: str | None,
                     reason: str, owner: Owner | None = None, co_owners: Sequence[Owner] = ()) -> None:
        self.history.append(HistoryRow(incident_id, at, kind, owner.unit_id if owner else None,
                                       owner.worker_id if owner else None, place_code, reason))
        row = self.incidents.get(incident_id)
        if row is None:
            return
        row.place_code = place_code or row.place_code  # as record_assignment: the place is kept whatever the decision
        if owner is not None:  # and a decision naming a unit moves the case, with its co-owners
            row.current_unit_id = owner.unit_id
            row.co_owners = list(co_owners)

    async def close(self, incident_id: uuid.UUID, at: datetime) -> None:
        row = self.incidents.get(incident_id)
        if row is not None and row.closed_at is None:
            row.closed_at = at

    async def reopen(self, incident_id: uuid.UUID) -> None:
        row = self.incidents.get(incident_id)
        if row is not None:
            row.closed_at = None

    async def decision_contexts(self, keys: Sequence[ContextKey]) -> list[DecisionContext]:
        contexts = []
        for k in keys:
            rule = self._rules.for_case(k.category, k.urgency)
            named = {rule.owner, rule.co_owner}  # of the departments, those the rule names (as the SQL reads them)
            units = [u for u in await self._units.covering(list(ancestors(k.place_code).values()))
                     if u.kind != "department" or f"dept:{u.department}" in named]
            contexts.append(DecisionContext(units, [w for w in self._workers.rows.values()
                                                    if k.grid_code is not None and k.grid_code in w.grid_codes],
                                            rule))
        return contexts


class RoutingStore:
    """Every repository's rows, shared by the units of work of one test."""

    def __init__(self) -> None:
        self.grids = FakeGrids()
        self.units = FakeUnits()
        self.workers = FakeWorkers(self.units)
        self.rules = FakeRules()
        self.dedicated_categories = FakeDedicatedCategories()
        self.assignments = FakeAssignments(self.units, self.workers, self.rules)
        self.published: list[Envelope] = []  # what the outbox got, in commit order

    def events(self) -> list[Event]:
        """The events published (for assertions)."""
        return [parse_event(envelope) for envelope in self.published]

    def restore(self, saved: RoutingStore) -> None:
        self.__dict__.update(saved.__dict__)


class FakeRoutingUnitOfWork(FakeUnitOfWork):
    def __init__(self, store: RoutingStore, clock: Clock) -> None:
        super().__init__(SOURCE, clock)
        self.store = store
        self._saved: RoutingStore | None = None

    @property
    def grids(self) -> FakeGrids:
        return self.store.grids

    @property
    def units(self) -> FakeUnits:
        return self.store.units

    @property
    def workers(self) -> FakeWorkers:
        return self.store.workers

    @property
    def rules(self) -> FakeRules:
        return self.store.rules

    @property
    def dedicated_categories(self) -> FakeDedicatedCategories:
        return self.store.dedicated_categories

    @property
    def assignments(self) -> FakeAssignments:
        return self.store.assignments

    def _begin(self) -> None:
        super()._begin()
        self._saved = copy.deepcopy(self.store)

    async def rollback(self) -> None:
        if self._saved is not None:
            self.store.restore(self._saved)
        await super().rollback()

    async def _write_outbox(self) -> None:
        self.store.published.extend(self.events.pending)
        await super()._write_outbox()


class FakeRegistry:
    """The registry as loaded in memory: a fixed locator."""

    def __init__(self, locator: Locator) -> None:
        self._locator = locator

    async def locator(self) -> Locator:
        return self._locator


def fake_bus(store: RoutingStore, registry: FakeRegistry, clock: Clock | None = None,
             overlap_tolerance_m2: float = 100.0) -> MessageBus[RoutingUnitOfWork]:
    """Routing's bus as bootstrap builds it, on fakes: every unit of work on the same store and clock."""
    clock = clock or FixedClock(NOW)
    return message_bus(lambda: FakeRoutingUnitOfWork(store, clock), registry=registry,
                       overlap_tolerance_m2=overlap_tolerance_m2)


def _conforms(uow: FakeRoutingUnitOfWork) -> RoutingUnitOfWork:
    return uow
