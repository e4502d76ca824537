"""Postgres side of supervision's writes: phase clocks (and their alerts), cases (and their statistics facts),
policies, the calendar's days, the virtual clock. What the GET routes read lives in views.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import asyncpg

from services.supervision.domain.alerts import ClockAlert
from services.supervision.domain.calendar import CalendarRecord
from services.supervision.domain.errors import NoPolicy
from services.supervision.domain.model import CaseAssignment, PhaseClock, PhaseHistory, Policy, SupervisedCase
from services.supervision.domain.statistics import StoredName, UnitFigures, names_to_store
from shared.clock import ClockAnchor
from shared.db.queries import Queries, array_columns
from shared.events.intake import IncidentReceived
from shared.messaging.outbox import NOTIFY_CHANNEL

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))
_CLOCK_FIELDS = ("incident_id", "phase", "cycle", "category", "urgency", "grid_code", "unit_id", "started_at",
                 "limit_amount", "limit_unit", "yellow_ratio", "due_version", "yellow_at", "due_at",
                 "red_card_at", "leader_at", "light", "level", "stopped_at", "paused_at", "extension_amount",
                 "assignment_id", "started_by", "stop_reason", "due_fixed", "start_level", "counted_from",
                 "nature")


class ClockRepository:
    """Phase clocks: started, moved, stopped, fired by the ticker; and the alerts of their moves."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def running(self, incident_id: uuid.UUID) -> list[PhaseClock]:
        return [clock_from_row(r) for r in await self._conn.fetch(QUERIES.running_clocks, incident_id)]

    async def running_in_phase(self, incident_id: uuid.UUID, phase: str) -> PhaseClock | None:
        row = await self._conn.fetchrow(QUERIES.running_clock, incident_id, phase)
        return clock_from_row(row) if row else None

    async def running_on_working_time(self, not_before: datetime, after_id: int, limit: int) -> list[PhaseClock]:
        rows = await self._conn.fetch(QUERIES.running_working_time_clocks, not_before, after_id, limit)
        return [clock_from_row(r) for r in rows]

    async def phase_history(self, incident_id: uuid.UUID, phase: str, since: datetime | None) -> PhaseHistory:
        [history] = await self.phase_histories([(incident_id, phase, since)])
        return history

    async def phase_histories(self, asked: Sequence[tuple[uuid.UUID, str, datetime | None]]) -> list[PhaseHistory]:
        if not asked:
            return []
        rows = await self._conn.fetch(QUERIES.phase_histories, *array_columns(asked))
        return [PhaseHistory(running=clock_from_row(row) if row["id"] is not None else None,
                             last_cycle=int(row["last_cycle"]), level=row["case_level"] or "none") for row in rows]

    async def add(self, clock: PhaseClock) -> None:
        await self.add_many([clock])

    async def add_many(self, clocks: Sequence[PhaseClock]) -> None:
        if not clocks:
            return
        rows = [(*(getattr(clock, f) for f in _CLOCK_FIELDS), clock.next_check_at()) for clock in clocks]
        ids = {(r["incident_id"], r["phase"]): r["id"]
               for r in await self._conn.fetch(QUERIES.insert_clocks, *array_columns(rows))}
        for clock in clocks:
            clock.id = ids[(clock.incident_id, clock.phase)]

    async def save(self, clock: PhaseClock) -> None:
        await self._conn.execute(QUERIES.update_clock, clock.id, clock.light, clock.level, clock.stopped_at,
                                 clock.next_check_at(), clock.due_version, clock.yellow_at, clock.due_at,
                                 clock.red_card_at, clock.leader_at, clock.paused_at, clock.extension_amount,
                                 clock.stop_reason, clock.counted_from)

    async def fire_due(self, now: datetime, limit: int, floor: datetime | None = None) -> list[datetime]:
        """Fire the thresholds of up to `limit` clocks due between `floor` (None: any time) and `now`, and write
        their alerts (see `fire_due_clocks`); returns when each was due."""
        rows = await self._conn.fetch(QUERIES.fire_due_clocks, now, limit, floor)
        due_times = [row["due_time"] for row in rows]
        if due_times:
            await self._conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)  # wake the relay at commit
        return due_times

    async def add_alerts(self, alerts: list[ClockAlert]) -> None:
        if not alerts:
            return
        columns = array_columns((a.clock_id, a.at, a.due_at, a.due_version, a.light_before, a.level_before,
                                 ",".join(a.steps), a.manual, a.note, a.correlation_id, a.causation_id)
                                for a in alerts)
        await self._conn.execute(QUERIES.insert_clock_alerts, *columns, NOTIFY_CHANNEL)


class CaseRepository:
    """The cases supervision follows, and the facts the monthly statistics count (DOMAIN.md §6)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def receive(self, received: Sequence[IncidentReceived]) -> None:
        """The cases as intake received them, in one round trip; a missing grid, deadline or nature keeps what was
        known before."""
        await self._conn.execute(
            QUERIES.receive_cases, [e.incident_id for e in received], [e.category for e in received],
            [e.urgency for e in received], [e.grid_code for e in received], [e.deadline for e in received],
            [e.hotline_order_no is not None for e in received], [e.nature for e in received])

    async def get(self, incident_id: uuid.UUID) -> SupervisedCase | None:
        row = await self._conn.fetchrow(QUERIES.get_case, incident_id)
        return SupervisedCase(**dict(row)) if row else None

    async def mark_signed(self, incident_id: uuid.UUID, signed: bool) -> None:
        await self._conn.execute(QUERIES.mark_signed, incident_id, signed)

    async def record_signature(self, incident_id: uuid.UUID, unit_id: str | None, at: datetime) -> None:
        await self._conn.execute(QUERIES.record_signature, incident_id, unit_id, at)

    async def set_deadline(self, incident_id: uuid.UUID, deadline: datetime) -> None:
        await self._conn.execute(QUERIES.set_deadline, incident_id, deadline)

    async def assign_many(self, assignments: Sequence[CaseAssignment]) -> list[SupervisedCase]:
        """Each ownership fact, made its case's current one, and the cases as now known, in one round trip (each
        case once); the names they told are compared with those stored in the same round trip, and the new or
        changed ones written in a second (rarely needed)."""
        if not assignments:
            return []
        names = [name for a in assignments for name in a.names]
        rows = await self._conn.fetch(
            QUERIES.assign_cases, *array_columns(
                (a.incident_id, a.category, a.urgency, a.place_code, a.owner.unit_id, a.owner.unit_name,
                 a.owner.unit_kind, a.areas["grid_code"], a.areas["community_code"], a.areas["street_code"],
                 a.areas["district_code"], a.at, a.reassigned) for a in assignments),
            [n.kind for n in names], [n.key for n in names])
        by_case = {row["incident_id"]: row for row in rows}
        stored = {(n["kind"], n["key"]): StoredName(n["name"], datetime.fromisoformat(n["seen_at"]))
                  for n in by_case[assignments[0].incident_id]["known_names"]}
        if changed := names_to_store(stored, [(name, a.at) for a in assignments for name in a.names]):
            keys = sorted(changed)
            await self._conn.execute(QUERIES.write_unit_names, [k for k, _ in keys], [k for _, k in keys],
                                     [changed[k].name for k in keys], [changed[k].seen_at for k in keys])
        return [_case(by_case[a.incident_id]) for a in assignments]

    async def record_return(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(QUERIES.mark_assignment_returned, incident_id, at)

    async def record_urge(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(QUERIES.record_urge, incident_id, at)

    async def record_verification(self, incident_id: uuid.UUID, at: datetime, passed: bool) -> None:
        handle_clock_id = await self._conn.fetchval(QUERIES.last_result_clock, incident_id)
        await self._conn.execute(QUERIES.insert_verification_fact, incident_id, handle_clock_id, at, passed)

    async def record_closure(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(QUERIES.insert_closure_fact, incident_id, at)

    async def record_reopen(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(QUERIES.mark_closure_reopened, incident_id, at)

    async def record_visit(self, incident_id: uuid.UUID, at: datetime, contacted: str, responded: bool | None,
                           solved: str | None, satisfied: str | None) -> None:
        await self._conn.execute(QUERIES.insert_visit_fact, incident_id, at, contacted, responded, solved,
                                 satisfied)


class PolicyRepository:
    """Time-limit policies per category, urgency, phase and 事项性质 ('*' the default category or nature)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        # Each lookup once per unit of work: a consumer's batch starts many clocks of a few kinds (a query per
        # clock was 6% of its CPU). The batch uses the policies as of its first lookup, as if it had run a moment
        # before an edit committed meanwhile (an edit applies to clocks started after it).
        self._found: dict[tuple[str, str, str, str | None], Policy] = {}

    async def for_phase(self, category: str, urgency: str, phase: str, nature: str | None = None) -> Policy:
        """The most specific policy (model.lookup_order, DOMAIN.md §5 and §7): the category's own for the
        nature, the category's own for any nature, any category's for the nature, the '*' default."""
        if (known := self._found.get((category, urgency, phase, nature))) is not None:
            return known
        row = await self._conn.fetchrow(QUERIES.find_policy, category, urgency, phase, nature)
        if row is None:
            raise NoPolicy(category, urgency, phase)
        ladder = {k: (float(v[0]), v[1]) for k, v in (row["ladder"] or {}).items()}
        policy = Policy(row["category"], row["urgency"], row["phase"], row["limit_amount"], row["limit_unit"],
                        row["yellow_ratio"], ladder, row["nature"])
        self._found[(category, urgency, phase, nature)] = policy
        return policy

    async def put(self, policy: Policy) -> None:
        self._found.clear()
        ladder = {step: [amount, unit] for step, (amount, unit) in policy.ladder.items()}
        await self._conn.execute(QUERIES.upsert_policy, policy.category, policy.urgency, policy.phase,
                                 policy.limit_amount, policy.limit_unit, policy.yellow_ratio, ladder, policy.nature)


class CalendarDayRepository:
    """Dates overridden by hand and years imported whole."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._version: int | None = None

    async def record(self) -> CalendarRecord:
        return await stored_calendar(self._conn)

    async def current_version(self) -> int:
        """The current version, under the shared calendar lock. Taken once per unit of work: the lock is held to
        its end, so no change can come in between and the version read first stays the current one."""
        if self._version is None:
            row = await self._conn.fetchrow(QUERIES.calendar_version_shared)
            self._version = int(row["version"])
        return self._version

    async def begin_change(self) -> int:
        self._version = None
        await self._conn.execute(QUERIES.calendar_change_lock)
        return int(await self._conn.fetchval(QUERIES.calendar_version_bump))

    async def set(self, day: date, workday: bool, note: str | None) -> None:
        await self._conn.execute(QUERIES.upsert_calendar_override, day, workday, note)

    async def replace_year(self, year: int, days: dict[date, bool], notes: dict[date, str],
                           source: str | None) -> None:
        await self._conn.execute(QUERIES.delete_year_overrides, date(year, 1, 1), date(year + 1, 1, 1))
        for day, workday in sorted(days.items()):
            await self._conn.execute(QUERIES.upsert_calendar_override, day, workday, notes.get(day))
        await self._conn.execute(QUERIES.record_imported_year, year, source)


def _case(row: asyncpg.Record) -> SupervisedCase:
    return SupervisedCase(**{k: v for k, v in row.items() if k != "known_names"})


def clock_from_row(row: asyncpg.Record) -> PhaseClock:
    return PhaseClock(id=row["id"], **{f: row[f] for f in _CLOCK_FIELDS})  # counted_from NULL: started_at


async def stored_calendar(db: asyncpg.Pool | asyncpg.Connection) -> CalendarRecord:
    """The calendar's rows (bootstrap and the follower of other processes' changes read it from the pool)."""
    rows = await db.fetch(QUERIES.calendar_overrides)
    return CalendarRecord({r["day"]: r["workday"] for r in rows}, {r["day"]: r["note"] for r in rows if r["note"]},
                          {r["year"] for r in await db.fetch(QUERIES.imported_years)})


async def next_due_from(db: asyncpg.Pool | asyncpg.Connection, floor: datetime | None) -> datetime | None:
    """The lowest next check at or after `floor` (None: of every clock): the ticker's next due time and floor."""
    value: datetime | None = await db.fetchval(QUERIES.next_due_from, floor)
    return value


class PgClockStore:
    """The virtual clock's anchor, kept in supervision's database (shared by its API and ticker)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self) -> ClockAnchor | None:
        row = await self._pool.fetchrow(QUERIES.load_virtual_clock)
        return ClockAnchor(row["virtual_anchor"], row["real_anchor"], row["speed"]) if row else None

    async def save(self, anchor: ClockAnchor) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(QUERIES.save_virtual_clock, anchor.virtual, anchor.real, anchor.speed)
            await conn.execute("NOTIFY clock_changed")


class FrozenMonthRepository:
    """The months whose figures were published (frozen)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def store(self, month: date, group_by: str, frozen_at: datetime, units: Sequence[UnitFigures]) -> None:
        """A month's figures as of its freeze, stored once (a second writer's are dropped: ON CONFLICT DO
        NOTHING)."""
        rows = [{"key": u.key, "name": u.name, "cases": u.cases, "escalation_points": u.escalation_points,
                 "rates": {m: [r.numerator, r.denominator] for m, r in u.rates.items()}} for u in units]
        await self._conn.execute(QUERIES.store_frozen_stats, month, group_by, frozen_at, rows)
