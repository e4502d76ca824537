"""Supervision's read models: what the GET routes (and the ticker's wait) read straight from SQL (cosmicpython's
views). Nothing here writes; every write goes through the bus (service_layer/handlers.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.supervision.adapters.repository import QUERIES, clock_from_row
from services.supervision.domain.model import PhaseClock
from services.supervision.domain.statistics import Rate, UnitFigures, month_bounds


async def clocks_of_incident(pool: asyncpg.Pool, incident_id: uuid.UUID) -> list[PhaseClock]:
    return [clock_from_row(r) for r in await pool.fetch(QUERIES.clocks_of_incident, incident_id)]


async def board_clocks(pool: asyncpg.Pool, *, light: Sequence[str] | None, grid_prefix: str | None,
                       unit: str | None, area: tuple[str, ...], limit: int, level: Sequence[str] | None = None,
                       category: str | None = None, phase: str | None = None) -> list[PhaseClock]:
    """Running clocks inside `area`, most urgent first: any of `light`, any of `level` (None: any), a category
    code or its group, a phase."""
    patterns = [prefix + "%" for prefix in area if prefix.isdigit()]
    rows = await pool.fetch(QUERIES.board_clocks, list(light) if light else None, grid_prefix, unit, "" in area,
                            patterns, limit, list(level) if level else None, category, phase)
    return [clock_from_row(r) for r in rows]


async def list_policies(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(QUERIES.list_policies)
    return [{**dict(r), "ladder": json.loads(json.dumps(r["ladder"]))} for r in rows]


async def next_due_at(pool: asyncpg.Pool) -> datetime | None:
    """When the next threshold of any clock falls due (the ticker sleeps until then)."""
    value: datetime | None = await pool.fetchval(QUERIES.next_due_at)
    return value


async def monthly_figures(pool: asyncpg.Pool, month: date, group_by: str, as_of: datetime) -> list[UnitFigures]:
    """Count the month's facts per key, as known at `as_of`."""
    start, end = month_bounds(month)
    args = (start, end, as_of, group_by)
    units: dict[str, UnitFigures] = {}

    def unit(key: str) -> UnitFigures:
        return units.setdefault(key, UnitFigures(key))

    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # JIT compiling these statements takes 0.1–0.3 s each on a year of facts (their cost estimates pass
        # jit_above_cost), more than running them: off for this transaction only.
        await conn.execute("SET LOCAL jit = off")
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
        for query, metric in ((QUERIES.stats_returns, "return_rate"), (QUERIES.stats_urges, "urge_rate"),
                              (QUERIES.stats_reopens, "reopen_rate"), (QUERIES.stats_rework, "rework_rate")):
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
