"""In-memory stand-ins for supervision's repositories and unit of work (unit tests: no sockets).

The repositories keep their rows in a `SupervisionStore` shared by every unit of work the bus makes (one per
command); a unit of work left without commit puts the store back as it found it, as a rolled back transaction.
Clocks are stored as copies, so a handler's object is never the stored row.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from services.supervision.bootstrap import message_bus
from services.supervision.domain.alerts import ClockAlert, alerts_of
from services.supervision.domain.calendar import CalendarRecord
from services.supervision.domain.errors import NoPolicy
from services.supervision.domain.model import (
    CaseAssignment,
    PhaseClock,
    PhaseHistory,
    Policy,
    SupervisedCase,
    highest_level,
    lookup_order,
)
from services.supervision.domain.statistics import UnitFigures, UnitName
from services.supervision.service_layer.unit_of_work import SupervisionUnitOfWork, alerts_from
from shared.calendar import WorkCalendar
from shared.clock import Clock, ClockAnchor
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived
from shared.events.routing import Owner
from shared.messagebus import MessageBus
from tests.support import FixedClock
from tests.unit.fakes import FakeTransaction

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai


class FakeClocks:
    def __init__(self) -> None:
        self.rows: dict[int, PhaseClock] = {}
        self.alerts: list[ClockAlert] = []  # written: what the relay would publish
        self._last_id = 0

    def of(self, incident_id: uuid.UUID) -> list[PhaseClock]:
        """Every clock of the incident as stored, oldest first (for assertions)."""
        return [copy.deepcopy(c) for _, c in sorted(self.rows.items()) if c.incident_id == incident_id]

    async def running(self, incident_id: uuid.UUID) -> list[PhaseClock]:
        return [c for c in self.of(incident_id) if c.running]

    async def running_in_phase(self, incident_id: uuid.UUID, phase: str) -> PhaseClock | None:
        return next((c for c in await self.running(incident_id) if c.phase == phase), None)

    async def running_on_working_time(self, not_before: datetime, after_id: int, limit: int) -> list[PhaseClock]:
        found = [copy.deepcopy(c) for i, c in sorted(self.rows.items())
                 if i > after_id and c.running and c.limit_unit != "hours" and c.leader_at >= not_before]
        return found[:limit]

    async def phase_history(self, incident_id: uuid.UUID, phase: str, since: datetime | None) -> PhaseHistory:
        return PhaseHistory(
            running=await self.running_in_phase(incident_id, phase),
            last_cycle=max((c.cycle for c in self.of(incident_id) if c.phase == phase), default=0),
            level=highest_level(c.level for c in self.rows.values()
                                if c.incident_id == incident_id and (since is None or c.started_at >= since)))

    async def phase_histories(self, asked: Sequence[tuple[uuid.UUID, str, datetime | None]]) -> list[PhaseHistory]:
        return [await self.phase_history(*one) for one in asked]

    async def add(self, clock: PhaseClock) -> None:
        self._last_id += 1
        clock.id = self._last_id
        await self.save(clock)

    async def add_many(self, clocks: Sequence[PhaseClock]) -> None:
        for clock in clocks:
            await self.add(clock)

    async def save(self, clock: PhaseClock) -> None:
        assert clock.id is not None
        self.rows[clock.id] = copy.deepcopy(clock)
        self.rows[clock.id].events = []

    async def fire_due(self, now: datetime, limit: int, floor: datetime | None = None) -> list[datetime]:
        """PhaseClock.tick over the due clocks: what the SQL ticker does (test_ticker_sql.py holds them equal)."""
        due = sorted(((when, i) for i, c in self.rows.items()
                      if (when := c.next_check_at()) and when <= now and (floor is None or when >= floor)))
        due_times = []
        for when, clock_id in due[:limit]:
            clock = copy.deepcopy(self.rows[clock_id])
            clock.tick(now)
            self.alerts.extend(alerts_of(clock))
            await self.save(clock)
            due_times.append(when)
        return due_times

    async def add_alerts(self, alerts: list[ClockAlert]) -> None:
        self.alerts.extend(alerts)


class FakeCases:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, SupervisedCase] = {}
        self.assignments: list[dict[str, object]] = []
        self.names: dict[tuple[str, str], str] = {}  # (kind, key) → the last name seen
        self.facts: list[tuple[str, uuid.UUID, datetime]] = []  # (kind, case, at): returns, closures, ...

    async def receive(self, received: Sequence[IncidentReceived]) -> None:
        for e in received:
            await self._upsert(e.incident_id, e.category, e.urgency, e.grid_code, None, e.deadline,
                               e.hotline_order_no is not None, e.nature)

    async def _upsert(self, incident_id: uuid.UUID, category: str, urgency: str, grid_code: str | None,
                      unit_id: str | None, deadline: datetime | None = None, hotline: bool = False,
                      nature: str | None = None) -> SupervisedCase:
        case = self.rows.get(incident_id) or SupervisedCase(incident_id, category, urgency, None, None)
        case.category, case.urgency = category, urgency
        case.grid_code = grid_code or case.grid_code  # a missing value keeps what was known (as the SQL's coalesce)
        case.unit_id = unit_id or case.unit_id
        case.deadline = deadline or case.deadline
        case.hotline = case.hotline or hotline
        case.nature = nature or case.nature
        self.rows[incident_id] = case
        return copy.copy(case)

    async def get(self, incident_id: uuid.UUID) -> SupervisedCase | None:
        case = self.rows.get(incident_id)
        return copy.copy(case) if case else None

    async def mark_signed(self, incident_id: uuid.UUID, signed: bool) -> None:
        if incident_id in self.rows:
            self.rows[incident_id].signed = signed

    async def record_signature(self, incident_id: uuid.UUID, unit_id: str | None, at: datetime) -> None:
        if incident_id in self.rows:
            self.rows[incident_id].signed_unit_id, self.rows[incident_id].signed_at = unit_id, at

    async def set_deadline(self, incident_id: uuid.UUID, deadline: datetime) -> None:
        if incident_id in self.rows:
            self.rows[incident_id].deadline = deadline

    async def assign_many(self, assignments: Sequence[CaseAssignment]) -> list[SupervisedCase]:
        return [await self._assign(a.incident_id, a.category, a.urgency, a.place_code, a.owner, a.areas, a.at,
                                   a.reassigned, a.names) for a in assignments]

    async def _assign(self, incident_id: uuid.UUID, category: str, urgency: str, place_code: str | None,
                      owner: Owner, areas: Mapping[str, str | None], at: datetime, reassigned: bool,
                      names: Sequence[UnitName] = ()) -> SupervisedCase:
        case = await self._upsert(incident_id, category, urgency, place_code, owner.unit_id)
        self.assignments.append({"incident_id": incident_id, "unit_id": owner.unit_id, "at": at,
                                 "reassigned": reassigned, **areas})
        row = self.rows[incident_id]
        row.assignment_id = case.assignment_id = len(self.assignments)
        row.assigned_at = case.assigned_at = at
        self.names.update({(n.kind, n.key): n.name for n in names})
        return case

    async def record_return(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.facts.append(("returned", incident_id, at))

    async def record_urge(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.facts.append(("urged", incident_id, at))

    async def record_verification(self, incident_id: uuid.UUID, at: datetime, passed: bool) -> None:
        self.facts.append(("verified" if passed else "verify_failed", incident_id, at))

    async def record_closure(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.facts.append(("closed", incident_id, at))

    async def record_reopen(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.facts.append(("reopened", incident_id, at))
        if incident_id in self.rows:
            self.rows[incident_id].reopened_at = at

    async def record_visit(self, incident_id: uuid.UUID, at: datetime, contacted: str, responded: bool | None,
                           solved: str | None, satisfied: str | None) -> None:
        self.facts.append(("visited", incident_id, at))


class FakePolicies:
    """Keyed as the table: (category, urgency, phase, nature); looked up the most specific first (find_policy)."""

    def __init__(self, policies: list[Policy] | None = None) -> None:
        self.rows: dict[tuple[str, str, str, str], Policy] = {}
        for policy in policies or []:
            self.rows[(policy.category, policy.urgency, policy.phase, policy.nature)] = policy

    async def for_phase(self, category: str, urgency: str, phase: str, nature: str | None = None) -> Policy:
        for cat, nat in lookup_order(category, nature):
            if (key := (cat, urgency, phase, nat)) in self.rows:
                return self.rows[key]
        raise NoPolicy(category, urgency, phase)

    async def put(self, policy: Policy) -> None:
        self.rows[(policy.category, policy.urgency, policy.phase, policy.nature)] = policy


class FakeCalendarDays:
    def __init__(self) -> None:
        self.overrides: dict[date, bool] = {}
        self.notes: dict[date, str] = {}
        self.imported_years: dict[int, str | None] = {}
        self.version = 0

    async def record(self) -> CalendarRecord:
        return CalendarRecord(dict(self.overrides), dict(self.notes), set(self.imported_years))

    async def current_version(self) -> int:
        return self.version

    async def begin_change(self) -> int:
        self.version += 1
        return self.version

    async def set(self, day: date, workday: bool, note: str | None) -> None:
        self.overrides[day] = workday
        if note:
            self.notes[day] = note
        else:
            self.notes.pop(day, None)

    async def replace_year(self, year: int, days: dict[date, bool], notes: dict[date, str],
                           source: str | None) -> None:
        for day in [d for d in self.overrides if d.year == year]:
            del self.overrides[day]
            self.notes.pop(day, None)
        for day, workday in days.items():
            await self.set(day, workday, notes.get(day))
        self.imported_years[year] = source


# The '*' defaults supervision's first migration seeds.
DEFAULT_POLICIES = [
    Policy("*", "emergency", "sign", 0.5, "hours"), Policy("*", "urgent", "sign", 2, "hours"),
    Policy("*", "normal", "sign", 1, "working_days"), Policy("*", "emergency", "handle", 2, "hours"),
    Policy("*", "urgent", "handle", 24, "hours"), Policy("*", "normal", "handle", 5, "working_days"),
    Policy("*", "emergency", "verify", 2, "hours"), Policy("*", "urgent", "verify", 1, "working_days"),
    Policy("*", "normal", "verify", 2, "working_days"),
]


class FakeFrozenMonths:
    def __init__(self) -> None:
        self.rows: dict[tuple[date, str], tuple[datetime, list[UnitFigures]]] = {}

    async def store(self, month: date, group_by: str, frozen_at: datetime, units: Sequence[UnitFigures]) -> None:
        self.rows.setdefault((month, group_by), (frozen_at, list(units)))


class SupervisionStore:
    """Every repository's rows, shared by the units of work of one test."""

    def __init__(self, policies: list[Policy] | None = None) -> None:
        self.clocks = FakeClocks()
        self.cases = FakeCases()
        self.policies = FakePolicies(DEFAULT_POLICIES if policies is None else policies)
        self.calendar_days = FakeCalendarDays()
        self.frozen_months = FakeFrozenMonths()

    def restore(self, saved: SupervisionStore) -> None:
        self.__dict__.update(saved.__dict__)


class FakeSupervisionUnitOfWork(FakeTransaction):
    """Keeps the alerts it would write (`alerts`, until commit moves them to the store's clocks)."""

    def __init__(self, store: SupervisionStore, clock: Clock) -> None:
        super().__init__(clock)
        self.store = store
        self.alerts: list[ClockAlert] = []
        self._saved: SupervisionStore | None = None

    @property
    def clocks(self) -> FakeClocks:
        return self.store.clocks

    @property
    def cases(self) -> FakeCases:
        return self.store.cases

    @property
    def policies(self) -> FakePolicies:
        return self.store.policies

    @property
    def calendar_days(self) -> FakeCalendarDays:
        return self.store.calendar_days

    @property
    def frozen_months(self) -> FakeFrozenMonths:
        return self.store.frozen_months

    def _begin(self) -> None:
        self.alerts = []
        self._saved = copy.deepcopy(self.store)

    async def rollback(self) -> None:
        if self._saved is not None:
            self.store.restore(self._saved)
        await super().rollback()

    def collect(self, clock: PhaseClock, cause: Envelope | None = None) -> None:
        self.alerts.extend(alerts_from(clock, cause))

    async def _write_outbox(self) -> None:
        await self.clocks.add_alerts(self.alerts)


class FakeClockStore:
    def __init__(self) -> None:
        self.saved: list[ClockAnchor] = []

    async def load(self) -> ClockAnchor | None:
        return self.saved[-1] if self.saved else None

    async def save(self, anchor: ClockAnchor) -> None:
        self.saved.append(anchor)


def fake_bus(store: SupervisionStore | None = None, clock: Clock | None = None,
             calendar: WorkCalendar | None = None,
             clock_store: FakeClockStore | None = None) -> MessageBus[SupervisionUnitOfWork]:
    """Supervision's bus as bootstrap builds it, on fakes: every unit of work on the same store and clock."""
    store = store or SupervisionStore()
    clock = clock or FixedClock(NOW)
    return message_bus(lambda: FakeSupervisionUnitOfWork(store, clock), calendar=calendar or WorkCalendar(),
                       clock=clock, clock_store=clock_store or FakeClockStore())


def _conforms(uow: FakeSupervisionUnitOfWork) -> SupervisionUnitOfWork:
    return uow
