"""Supervision's unit of work: the Protocol its handlers are typed against, and its Postgres implementation.

Repositories are named in the plural for what they hold: `clocks` (phase clocks, the ticker's firing, the
alerts of their moves), `cases` (the cases followed and the facts the statistics count: assignments,
signatures, verifications, closures, returns, reopenings, visits), `policies` and `calendar_days`.

Supervision's events are the moves of its clocks. They are not envelopes in the generic outbox but rows of
its own `clock_alert` table (a catch-up writes hundreds of thousands at once), which its relay renders
(adapters/alert_outbox.py). So its unit of work collects clocks, not events: there is no `emit`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

import asyncpg

from services.supervision.adapters.repository import (
    CalendarDayRepository,
    CaseRepository,
    ClockRepository,
    FrozenMonthRepository,
    PolicyRepository,
)
from services.supervision.domain.alerts import ClockAlert, alerts_of
from services.supervision.domain.calendar import CalendarRecord
from services.supervision.domain.model import CaseAssignment, PhaseClock, PhaseHistory, Policy, SupervisedCase
from services.supervision.domain.statistics import UnitFigures
from shared.clock import Clock
from shared.db.unit_of_work import PgTransaction, UnitOfWork
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived


class Clocks(Protocol):
    async def running(self, incident_id: uuid.UUID) -> list[PhaseClock]:
        """The incident's running clocks, locked until the transaction ends."""
        ...

    async def running_in_phase(self, incident_id: uuid.UUID, phase: str) -> PhaseClock | None: ...

    async def running_on_working_time(self, not_before: datetime, after_id: int, limit: int) -> list[PhaseClock]:
        """A batch (keyset on id) of running clocks counted in working time whose last threshold is not
        before `not_before`: those a calendar change may move."""
        ...

    async def phase_history(self, incident_id: uuid.UUID, phase: str, since: datetime | None) -> PhaseHistory:
        """The phase's running clock (locked) and last cycle, and the highest 督办 level the incident's clocks
        started since `since` reached (all when None): what starting the phase's clock reads, at once."""
        ...

    async def phase_histories(self, asked: Sequence[tuple[uuid.UUID, str, datetime | None]]) -> list[PhaseHistory]:
        """`phase_history` for many (incident, phase, since) at once (each case once), in order."""
        ...

    async def add(self, clock: PhaseClock) -> None:
        """Store a new clock (it gets its id)."""
        ...

    async def add_many(self, clocks: Sequence[PhaseClock]) -> None:
        """Store new clocks at once (each case's phase once); each gets its id."""
        ...

    async def save(self, clock: PhaseClock) -> None: ...

    async def fire_due(self, now: datetime, limit: int, floor: datetime | None = None) -> list[datetime]:
        """The ticker's pass: fire the thresholds of up to `limit` clocks due from `floor` (None: any time) to
        `now` (PhaseClock.tick's rules) and write their alerts; returns when each claimed clock was due."""
        ...

    async def add_alerts(self, alerts: list[ClockAlert]) -> None: ...


class Cases(Protocol):
    async def receive(self, received: Sequence[IncidentReceived]) -> None:
        """The cases as intake received them (each once), in one round trip; a missing grid, deadline or nature
        (事项性质) keeps what was known before (an assignment can come first: the consumer reads two topics), and a
        12345 order stays one."""
        ...

    async def get(self, incident_id: uuid.UUID) -> SupervisedCase | None: ...

    async def mark_signed(self, incident_id: uuid.UUID, signed: bool) -> None: ...

    async def record_signature(self, incident_id: uuid.UUID, unit_id: str | None, at: datetime) -> None:
        """The last signature seen: by which unit, when."""
        ...

    async def set_deadline(self, incident_id: uuid.UUID, deadline: datetime) -> None:
        """A 12345 deadline that 12345 itself moved (its approved extension)."""
        ...

    async def assign_many(self, assignments: Sequence[CaseAssignment]) -> list[SupervisedCase]:
        """Assignments (each case once; at once): each one's ownership fact, made its case's current one (and when it
        was given); the case as now known (with the owner's unit; made if the assignment came first; a missing grid
        keeps what was known); the names the assignments told. Returns the cases, in order."""
        ...

    async def record_return(self, incident_id: uuid.UUID, at: datetime) -> None: ...

    async def record_urge(self, incident_id: uuid.UUID, at: datetime) -> None:
        """催办: counted on the assignment that has the case now."""
        ...

    async def record_verification(self, incident_id: uuid.UUID, at: datetime, passed: bool) -> None: ...

    async def record_closure(self, incident_id: uuid.UUID, at: datetime) -> None: ...

    async def record_reopen(self, incident_id: uuid.UUID, at: datetime) -> None:
        """重办: on the closure it undoes, and on the case (its new cycle starts at `at`)."""
        ...

    async def record_visit(self, incident_id: uuid.UUID, at: datetime, contacted: str, responded: bool | None,
                           solved: str | None, satisfied: str | None) -> None: ...


class Policies(Protocol):
    async def for_phase(self, category: str, urgency: str, phase: str, nature: str | None = None) -> Policy:
        """The most specific policy (DOMAIN.md §5 limits, §7 事项性质; model.lookup_order): the category's own for
        the nature, the category's own for any nature ('*'), any category's for the nature, the '*'/'*' default;
        without a nature only the any-nature ones. NoPolicy when none exists."""
        ...

    async def put(self, policy: Policy) -> None: ...


class CalendarDays(Protocol):
    async def record(self) -> CalendarRecord: ...

    async def current_version(self) -> int:
        """The calendar's version, once no change of it is under way (held until the transaction ends, so a
        change that starts meanwhile waits for this transaction's clocks)."""
        ...

    async def begin_change(self) -> int:
        """Wait for the clocks being started to commit, hold off new ones, and bump the version: the new one."""
        ...

    async def set(self, day: date, workday: bool, note: str | None) -> None: ...

    async def replace_year(self, year: int, days: dict[date, bool], notes: dict[date, str],
                           source: str | None) -> None: ...


class FrozenMonths(Protocol):
    async def store(self, month: date, group_by: str, frozen_at: datetime, units: Sequence[UnitFigures]) -> None:
        """A month's figures as of its freeze; a month stored already keeps its first figures."""
        ...


class SupervisionUnitOfWork(UnitOfWork, Protocol):
    @property
    def clocks(self) -> Clocks: ...

    @property
    def cases(self) -> Cases: ...

    @property
    def policies(self) -> Policies: ...

    @property
    def calendar_days(self) -> CalendarDays: ...

    @property
    def frozen_months(self) -> FrozenMonths: ...

    def collect(self, clock: PhaseClock, cause: Envelope | None = None) -> None:
        """Take the events the clock recorded as alerts, written at commit (caused by `cause`, if given)."""
        ...


class PgSupervisionUnitOfWork(PgTransaction):
    """A transaction whose events are the alerts of its clocks' moves, written to `clock_alert` at commit (in
    the same order as the ticker's own alerts, so the relay publishes them as they happened)."""

    clocks: ClockRepository
    cases: CaseRepository
    policies: PolicyRepository
    calendar_days: CalendarDayRepository
    frozen_months: FrozenMonthRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        super().__init__(pool, clock)
        self.alerts: list[ClockAlert] = []

    def _begin(self) -> None:
        self.alerts = []

    def attach(self, conn: asyncpg.Connection) -> None:
        self.clocks = ClockRepository(conn)
        self.cases = CaseRepository(conn)
        self.policies = PolicyRepository(conn)
        self.calendar_days = CalendarDayRepository(conn)
        self.frozen_months = FrozenMonthRepository(conn)

    def collect(self, clock: PhaseClock, cause: Envelope | None = None) -> None:
        self.alerts.extend(alerts_from(clock, cause))

    async def _write_outbox(self) -> None:
        await self.clocks.add_alerts(self.alerts)


def alerts_from(clock: PhaseClock, cause: Envelope | None) -> list[ClockAlert]:
    """The clock's recorded events as alerts (the clock forgets them), in the conversation of their cause."""
    correlation_id, causation_id = cause.lineage() if cause else (None, None)
    alerts = alerts_of(clock, correlation_id, causation_id)
    clock.events = []
    return alerts
