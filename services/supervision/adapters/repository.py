"""Postgres side of supervision: policies, cases, phase clocks, the calendar's overrides, the virtual clock."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.supervision.domain.alerts import ClockAlert
from services.supervision.domain.model import CaseFacts, PhaseClock, Policy
from services.supervision.domain.statistics import Rate, UnitFigures, month_bounds
from shared.clock import ClockAnchor
from shared.db.queries import Queries
from shared.messaging.outbox import NOTIFY_CHANNEL

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))
_CLOCK_FIELDS = ("incident_id", "phase", "cycle", "category", "urgency", "grid_code", "unit_id", "started_at",
                 "limit_amount", "limit_unit", "yellow_ratio", "due_version", "yellow_at", "due_at",
                 "red_card_at", "leader_at", "light", "level", "stopped_at", "paused_at", "extension_amount",
                 "assignment_id", "started_by", "stop_reason", "due_fixed")


class SupervisionRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def policy(self, category: str, urgency: str, phase: str) -> Policy:
        row = await self._conn.fetchrow(QUERIES.find_policy, category, urgency, phase)
        if row is None:
            raise LookupError(f"no policy for {category}/{urgency}/{phase} and no '*' default")
        ladder = {k: (float(v[0]), v[1]) for k, v in (row["ladder"] or {}).items()}
        return Policy(row["category"], row["urgency"], row["phase"], row["limit_amount"], row["limit_unit"],
                      row["yellow_ratio"], ladder)

    async def upsert_case(self, incident_id: uuid.UUID, category: str, urgency: str, grid_code: str | None,
                          unit_id: str | None, deadline: Any = None) -> dict[str, Any]:
        row = await self._conn.fetchrow(QUERIES.upsert_case, incident_id, category, urgency, grid_code,
                                        unit_id, deadline)
        return dict(row)

    async def case(self, incident_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._conn.fetchrow(QUERIES.get_case, incident_id)
        return dict(row) if row else None

    async def mark_signed(self, incident_id: uuid.UUID, signed: bool) -> None:
        await self._conn.execute(QUERIES.mark_signed, incident_id, signed)

    async def running_clock(self, incident_id: uuid.UUID, phase: str) -> PhaseClock | None:
        row = await self._conn.fetchrow(QUERIES.running_clock, incident_id, phase)
        return _to_clock(row) if row else None

    async def running_clocks(self, incident_id: uuid.UUID) -> list[PhaseClock]:
        return [_to_clock(r) for r in await self._conn.fetch(QUERIES.running_clocks, incident_id)]

    async def next_cycle(self, incident_id: uuid.UUID, phase: str) -> int:
        return int(await self._conn.fetchval(QUERIES.last_cycle, incident_id, phase)) + 1

    async def add_clock(self, clock: PhaseClock) -> None:
        values = [getattr(clock, f) for f in _CLOCK_FIELDS]
        clock.id = await self._conn.fetchval(QUERIES.insert_clock, *values, clock.next_check_at())

    async def save_clock(self, clock: PhaseClock) -> None:
        await self._conn.execute(QUERIES.update_clock, clock.id, clock.light, clock.level, clock.stopped_at,
                                 clock.next_check_at(), clock.due_version, clock.yellow_at, clock.due_at,
                                 clock.red_card_at, clock.leader_at, clock.paused_at, clock.extension_amount,
                                 clock.stop_reason)

    async def fire_due(self, now: datetime, limit: int) -> list[datetime]:
        """Fire the thresholds of up to `limit` due clocks and write their alerts (see `fire_due_clocks`);
        returns when each was due."""
        due_times = [row["due_time"] for row in await self._conn.fetch(QUERIES.fire_due_clocks, now, limit)]
        if due_times:
            await self._conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)  # wake the relay at commit
        return due_times

    async def add_alerts(self, alerts: list[ClockAlert]) -> None:
        if not alerts:
            return
        columns = list(zip(*((a.clock_id, a.at, a.due_at, a.due_version, a.light_before, a.level_before,
                               ",".join(a.steps), a.manual, a.note, a.correlation_id, a.causation_id)
                              for a in alerts), strict=True))
        await self._conn.execute(QUERIES.insert_clock_alerts, *(list(c) for c in columns))
        await self._conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)

    # Statistics facts -----------------------------------------------------------------------------

    async def record_assignment(self, incident_id: uuid.UUID, owner: Any, areas: dict[str, str | None],
                                at: Any, reassigned: bool) -> int:
        assignment_id = int(await self._conn.fetchval(
            QUERIES.insert_assignment_fact, incident_id, owner.unit_id, owner.unit_name, owner.unit_kind,
            areas["grid_code"], areas["community_code"], areas["street_code"], areas["district_code"], at,
            reassigned))
        return assignment_id

    async def record_return(self, incident_id: uuid.UUID, at: Any) -> None:
        await self._conn.execute(QUERIES.mark_assignment_returned, incident_id, at)

    async def record_verification(self, incident_id: uuid.UUID, at: Any, passed: bool) -> None:
        handle_clock_id = await self._conn.fetchval(QUERIES.last_result_clock, incident_id)
        await self._conn.execute(QUERIES.insert_verification_fact, incident_id, handle_clock_id, at, passed)

    async def record_closure(self, incident_id: uuid.UUID, at: Any) -> None:
        await self._conn.execute(QUERIES.insert_closure_fact, incident_id, at)

    async def record_reopen(self, incident_id: uuid.UUID, at: Any) -> None:
        await self._conn.execute(QUERIES.mark_closure_reopened, incident_id, at)

    async def record_visit(self, incident_id: uuid.UUID, at: Any, contacted: str, responded: bool | None,
                           solved: str | None, satisfied: str | None) -> None:
        await self._conn.execute(QUERIES.insert_visit_fact, incident_id, at, contacted, responded, solved,
                                 satisfied)

    # The calendar --------------------------------------------------------------------------------

    async def set_calendar_day(self, day: date, workday: bool, note: str | None) -> None:
        await self._conn.execute(QUERIES.upsert_calendar_override, day, workday, note)

    async def replace_calendar_year(self, year: int, days: dict[date, bool], notes: dict[date, str],
                                    source: str | None) -> None:
        await self._conn.execute(QUERIES.delete_year_overrides, date(year, 1, 1), date(year + 1, 1, 1))
        for day, workday in sorted(days.items()):
            await self._conn.execute(QUERIES.upsert_calendar_override, day, workday, notes.get(day))
        await self._conn.execute(QUERIES.record_imported_year, year, source)

    async def calendar_days(self) -> CalendarDays:
        return await calendar_days(self._conn)

    async def running_working_time_clocks(self, not_before: datetime, after_id: int,
                                          limit: int) -> list[PhaseClock]:
        rows = await self._conn.fetch(QUERIES.running_working_time_clocks, not_before, after_id, limit)
        return [_to_clock(r) for r in rows]


def _to_clock(row: asyncpg.Record) -> PhaseClock:
    return PhaseClock(id=row["id"], **{f: row[f] for f in _CLOCK_FIELDS})


def clock_facts(case: dict[str, Any]) -> CaseFacts:
    return CaseFacts(case["incident_id"], case["category"], case["urgency"], case["grid_code"], case["unit_id"],
                     case.get("deadline"), case.get("assignment_id"))


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


@dataclass(frozen=True)
class CalendarDays:
    """What the database says about the calendar: per-date overrides, their notes, imported years."""

    overrides: dict[date, bool]
    notes: dict[date, str]
    imported_years: set[int]


async def calendar_days(pool: asyncpg.Pool | asyncpg.Connection) -> CalendarDays:
    rows = await pool.fetch(QUERIES.calendar_overrides)
    return CalendarDays({r["day"]: r["workday"] for r in rows}, {r["day"]: r["note"] for r in rows if r["note"]},
                        {r["year"] for r in await pool.fetch(QUERIES.imported_years)})


async def clocks_of_incident(pool: asyncpg.Pool, incident_id: uuid.UUID) -> list[PhaseClock]:
    return [_to_clock(r) for r in await pool.fetch(QUERIES.clocks_of_incident, incident_id)]


async def list_policies(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(QUERIES.list_policies)
    return [{**dict(r), "ladder": json.loads(json.dumps(r["ladder"]))} for r in rows]


async def put_policy(pool: asyncpg.Pool, policy: Policy) -> None:
    ladder = {step: [amount, unit] for step, (amount, unit) in policy.ladder.items()}
    await pool.execute(QUERIES.upsert_policy, policy.category, policy.urgency, policy.phase, policy.limit_amount,
                       policy.limit_unit, policy.yellow_ratio, ladder)


async def board_clocks(pool: asyncpg.Pool, *, light: str | None, grid_prefix: str | None, unit: str | None,
                       area: tuple[str, ...], limit: int) -> list[PhaseClock]:
    patterns = [prefix + "%" for prefix in area if prefix.isdigit()]
    rows = await pool.fetch(QUERIES.board_clocks, light, grid_prefix, unit, "" in area, patterns, limit)
    return [_to_clock(r) for r in rows]


async def monthly_figures(pool: asyncpg.Pool, month: date, group_by: str, as_of: datetime) -> list[UnitFigures]:
    """Count the month's facts per key, as known at `as_of`."""
    start, end = month_bounds(month)
    args = (start, end, as_of, group_by)
    units: dict[str, UnitFigures] = {}

    def unit(key: str) -> UnitFigures:
        return units.setdefault(key, UnitFigures(key))

    async with pool.acquire() as conn:
        for row in await conn.fetch(QUERIES.stats_cases, *args):
            unit(row["key"]).cases = row["cases"]
            unit(row["key"]).escalation_points = row["escalation_points"]
        for row in await conn.fetch(QUERIES.stats_sign, *args):
            unit(row["key"]).rates["timely_sign_rate"] = Rate(row["numerator"], row["denominator"])
        for row in await conn.fetch(QUERIES.stats_handle, *args):
            unit(row["key"]).rates["on_time_completion_rate"] = Rate(row["on_time"], row["denominator"])
            unit(row["key"]).rates["closure_rate"] = Rate(row["closed"], row["denominator"])
        for row in await conn.fetch(QUERIES.stats_visits, *args):
            figures = unit(row["key"])
            figures.rates["response_rate"] = Rate(row["responded"], row["asked_response"])
            figures.rates["solved_rate"] = Rate(row["solved"], row["answered"])
            figures.rates["satisfaction_rate"] = Rate(row["satisfied"], row["answered"])
        for query, metric in ((QUERIES.stats_returns, "return_rate"), (QUERIES.stats_reopens, "reopen_rate"),
                              (QUERIES.stats_rework, "rework_rate")):
            for row in await conn.fetch(query, *args):
                unit(row["key"]).rates[metric] = Rate(row["numerator"], row["denominator"])
        for row in await conn.fetch(QUERIES.stat_names, group_by, list(units)):
            units[row["key"]].name = row["name"]
    return sorted(units.values(), key=lambda u: u.key)


async def frozen_figures(pool: asyncpg.Pool, month: date, group_by: str) -> list[UnitFigures] | None:
    row = await pool.fetchrow(QUERIES.frozen_stats, month, group_by)
    if row is None:
        return None
    return [UnitFigures(r["key"], r["name"], r["cases"], r["escalation_points"],
                        {m: Rate(*pair) for m, pair in r["rates"].items()}) for r in row["rows"]]


async def store_frozen_figures(pool: asyncpg.Pool, month: date, group_by: str, frozen_at: datetime,
                               units: list[UnitFigures]) -> None:
    rows = [{"key": u.key, "name": u.name, "cases": u.cases, "escalation_points": u.escalation_points,
             "rates": {m: [r.numerator, r.denominator] for m, r in u.rates.items()}} for u in units]
    await pool.execute(QUERIES.store_frozen_stats, month, group_by, frozen_at, rows)


async def next_due_at(pool: asyncpg.Pool) -> datetime | None:
    value: datetime | None = await pool.fetchval(QUERIES.next_due_at)
    return value
