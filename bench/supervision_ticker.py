"""Supervision at scale: one million open clocks; catch-up rate of the ticker after it was stopped while
a share of them fell due, beside a bare SKIP LOCKED claim loop on the same rows in the same run."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import ROOT, Figure, create_database, drop_database
from services.supervision.service_layer.handlers import tick_due_clocks
from services.supervision.service_layer.unit_of_work import SupervisionUnitOfWork
from shared.calendar import WorkCalendar
from shared.clock import FixedClock
from shared.db.migrate import migrate
from shared.db.pool import create_pool

OPEN_CLOCKS = 1_000_000
DUE = 100_000
BATCH = 2_000
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def run(seconds: int = 15) -> list[Figure]:
    return asyncio.run(_run())


async def _run() -> list[Figure]:
    name, dsn = await create_database("supervision")
    try:
        await migrate(dsn, ROOT / "services" / "supervision")
        pool = await create_pool(dsn, 2, 4)
        await _fill(pool)
        baseline = await _bare_claim_loop(pool)
        await pool.execute("UPDATE phase_clock SET next_check_at = yellow_at WHERE yellow_at <= $1", NOW)
        started = time.perf_counter()
        fired = 0
        while (count := await tick_due_clocks(SupervisionUnitOfWork(pool, FixedClock(NOW), WorkCalendar()),
                                              BATCH)) > 0:
            fired += count
        rate = fired / (time.perf_counter() - started)
        events = await pool.fetchval("SELECT count(*) FROM outbox")
        await pool.close()
    finally:
        await drop_database(name)
    return [Figure("supervision.ticker", "catch-up", rate, "clocks/s", baseline, "bare SKIP LOCKED claim loop",
                   "≥ 50,000 clocks/s", {"open_clocks": OPEN_CLOCKS, "due": DUE, "fired": fired,
                                         "events_written": events, "batch": BATCH})]


async def _fill(pool) -> None:
    """One million running sign clocks; DUE of them already past their yellow point."""
    rows = []
    for n in range(OPEN_CLOCKS):
        started = NOW - timedelta(hours=2) if n < DUE else NOW + timedelta(hours=1)  # due: yellow 36 min ago
        rows.append((uuid.uuid4(), "sign", 1, "city.ads", "urgent", f"320508019044{n % 999 + 1:03d}", "grid-1",
                     started, 2.0, "hours", 0.7, 1, started + timedelta(minutes=84), started + timedelta(hours=2),
                     started + timedelta(hours=3), started + timedelta(hours=4), "green", "none",
                     started + timedelta(minutes=84)))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "phase_clock", records=rows,
            columns=["incident_id", "phase", "cycle", "category", "urgency", "grid_code", "unit_id", "started_at",
                     "limit_amount", "limit_unit", "yellow_ratio", "due_version", "yellow_at", "due_at",
                     "red_card_at", "leader_at", "light", "level", "next_check_at"])
        await conn.execute("ANALYZE phase_clock")


async def _bare_claim_loop(pool) -> float:
    """Claim due rows in batches with SKIP LOCKED and push their next check away: no domain, no events."""
    started = time.perf_counter()
    claimed = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            count = await conn.fetchval(
                """WITH due AS (SELECT id FROM phase_clock WHERE next_check_at <= $1 ORDER BY next_check_at
                                 LIMIT $2 FOR UPDATE SKIP LOCKED),
                        moved AS (UPDATE phase_clock c SET next_check_at = NULL FROM due WHERE c.id = due.id
                                  RETURNING 1)
                   SELECT count(*) FROM moved""", NOW, BATCH)
        if count == 0:
            break
        claimed += count
    return claimed / (time.perf_counter() - started)
