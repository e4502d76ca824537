"""Supervision at scale: ten million open clocks (BENCH_OPEN_CLOCKS, or `--open-clocks`, for a smaller run).

- fill: the open clocks are generated inside Postgres (INSERT … SELECT FROM generate_series, the table's
  secondary indexes built after the rows, then ANALYZE); its seconds are in the first figure's notes;

- catch-up: the ticker was stopped while 100,000 clocks fell due, each past its yellow and red points;
  clocks fired per second (light, level and alerts committed) with one session and with the ticker's
  default sessions, beside a bare SKIP LOCKED claim loop on the same rows in the same run;
- publishing the catch-up: supervision's relay renders those alerts (four events per clock) and publishes
  them to Kafka; events per second, beside the generic relay publishing the same events pre-rendered;
- steady lag: thresholds fall due at a steady rate in real time while the real ticker loop runs; the lag
  from each due time to the commit of its light (p50, p99), beside the bare claim loop run the same way. By default
  a transaction (a backup's snapshot: REPEATABLE READ, as pg_dump takes) stays open in the database from before the
  caught-up clocks are parked to the end of both steady runs, so neither VACUUM nor index scans can clear the dead
  entries the park and the firing leave at the head of the due index (BENCH_LONG_TRANSACTION=0: none).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.common import ROOT, Figure, create_database, drop_database
from bench.history_data import strip_for_load
from services.supervision.adapters.alert_outbox import ClockAlertOutbox
from services.supervision.adapters.repository import PgClockStore
from services.supervision.bootstrap import SupervisionContainer, pg_message_bus
from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.ticker import DueFloor, fire_pass, run_ticker
from services.supervision.views import next_due_at
from shared.calendar import WorkCalendar
from shared.clock import Clock, RealClock
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.messaging import outbox
from shared.messaging.kafka import make_producer
from shared.messaging.topics import ALL_TOPICS, ensure_topics
from shared.resilience import RideOut
from tests.support import FixedClock, delete_topics

OPEN_CLOCKS = int(os.environ.get("BENCH_OPEN_CLOCKS", 10_000_000))
DUE = min(100_000, OPEN_CLOCKS // 10)  # spread evenly over the table (every OPEN_CLOCKS // DUE-th clock)
SESSIONS = SupervisionSettings().ticker_sessions
KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
STEADY_RATE = 1_000      # thresholds falling due per second
STEADY_SECONDS = 15
# Backups and reports hold a snapshot for minutes: the steady runs happen under one (see the docstring).
LONG_TRANSACTION = os.environ.get("BENCH_LONG_TRANSACTION", "1") != "0"
LONG = 3600  # seconds: the fill, VACUUM and whole-table updates of ten million clocks outlast the pool's 30 s


def run(seconds: int = 15) -> list[Figure]:
    return asyncio.run(_run())


async def _run() -> list[Figure]:
    name, dsn = await create_database("supervision")
    try:
        await migrate(dsn, ROOT / "services" / "supervision")
        pool = await create_pool(dsn, 2, 2 + SESSIONS)
        fill_seconds = await _fill(pool)
        print(f"  {OPEN_CLOCKS:,} open clocks filled in {fill_seconds:.0f} s", flush=True)
        baseline = await _bare_claim_loop(pool)
        rate = await _catch_up(pool, sessions=1)
        print(f"  catch-up, 1 session: {rate:,.0f} clocks/s; bare loop {baseline:,.0f}", flush=True)
        events = await pool.fetchval("SELECT sum(cardinality(steps)) FROM clock_alert")
        publish_rate, prerendered_rate = await _publish(pool)
        await pool.execute("DELETE FROM clock_alert")
        rate_sessions = await _catch_up(pool, sessions=SESSIONS)
        print(f"  catch-up, {SESSIONS} sessions: {rate_sessions:,.0f} clocks/s", flush=True)
        await pool.execute("DELETE FROM clock_alert")
        holder = await _hold_snapshot(dsn) if LONG_TRANSACTION else None
        try:
            # The caught-up clocks' ladder steps lie in the real clock's past: park them for the steady runs.
            await pool.execute("UPDATE phase_clock SET next_check_at = NULL"
                               " WHERE next_check_at < now() + interval '1 day'", timeout=LONG)
            ticker_lags = await _steady_lags(pool, _run_real_ticker)
            bare_lags = await _steady_lags(pool, _run_bare_loop)
        finally:
            if holder is not None:
                await holder.close()
        await pool.close()
    finally:
        await drop_database(name)
    batch = SupervisionSettings().ticker_batch
    steady = {"open_clocks": OPEN_CLOCKS, "rate_per_second": STEADY_RATE, "seconds": STEADY_SECONDS,
              "fired": len(ticker_lags), "idle_poll_seconds": SupervisionSettings().ticker_idle_seconds,
              "long_transaction": LONG_TRANSACTION}
    return [Figure("supervision.ticker", "catch-up, 1 session", rate, "clocks/s", baseline,
                   "bare SKIP LOCKED claim loop", "≥ 1 × the bare loop",
                   {"open_clocks": OPEN_CLOCKS, "fill_seconds": round(fill_seconds, 1), "due": DUE, "events": events,
                    "batch": batch}),
            Figure("supervision.ticker", f"catch-up, {SESSIONS} sessions (the ticker's default)", rate_sessions,
                   "clocks/s", baseline, "bare SKIP LOCKED claim loop", "≥ 1 × the bare loop",
                   {"open_clocks": OPEN_CLOCKS, "due": DUE, "batch": batch, "sessions": SESSIONS}),
            Figure("supervision.relay", "catch-up's alerts rendered and published to Kafka", publish_rate,
                   "events/s", prerendered_rate, "generic relay, the same events pre-rendered", "",
                   {"events": events}),
            Figure("supervision.ticker", "steady lag p50", _pct(ticker_lags, 50), "ms", _pct(bare_lags, 50),
                   "bare SKIP LOCKED claim loop", "", steady),
            Figure("supervision.ticker", "steady lag p99", _pct(ticker_lags, 99), "ms", _pct(bare_lags, 99),
                   "bare SKIP LOCKED claim loop", "≤ 50 ms", steady)]


async def _catch_up(pool, sessions: int) -> float:
    """Make the DUE clocks due again from green (each crosses yellow and red: four events) and fire them all
    with `sessions` concurrent passes of the ticker (its handler, then its look for the next due time from the
    floor); returns clocks per second."""
    await pool.execute("UPDATE phase_clock SET light = 'green', level = 'none', next_check_at = yellow_at"
                       " WHERE yellow_at <= $1", NOW, timeout=LONG)
    await _settle(pool)
    container = _container(pool, FixedClock(NOW))
    floor = DueFloor()  # shared by the sessions, as in one ticker process

    async def passes() -> int:
        fired, rider = 0, RideOut()
        while count := (await fire_pass(container, floor, rider))[0]:
            fired += count
        return fired

    started = time.perf_counter()
    fired = sum(await asyncio.gather(*(passes() for _ in range(sessions))))
    elapsed = time.perf_counter() - started
    assert fired == DUE, fired
    return fired / elapsed


async def _hold_snapshot(dsn: str) -> asyncpg.Connection:
    """A connection whose open REPEATABLE READ transaction keeps its snapshot until the connection is closed."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    await conn.fetchval("SELECT count(*) FROM virtual_clock")  # the snapshot is taken by the first query
    return conn


async def _settle(pool) -> None:
    """Each timed run starts alike: dead rows of the previous one vacuumed, no checkpoint owed."""
    await pool.execute("VACUUM ANALYZE phase_clock", timeout=LONG)
    await pool.execute("CHECKPOINT", timeout=LONG)


async def _publish(pool) -> tuple[float, float]:
    """Publish the catch-up's alerts with supervision's relay, then the same events pre-rendered in the generic
    outbox with the generic relay, each to a private topic prefix; returns events per second for both."""
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(KAFKA, prefix)
    producer = make_producer(KAFKA)
    await producer.start()
    try:
        async with pool.acquire() as conn:
            messages = await ClockAlertOutbox().unsent(conn, DUE)
            await conn.execute("INSERT INTO outbox (event_id, topic, key, payload)"
                               " SELECT gen_random_uuid(), * FROM unnest($1::text[], $2::text[], $3::text[])",
                               [m.topic for m in messages], [m.key.decode() for m in messages],
                               [m.value.decode() for m in messages])
        rates = []
        for table in (ClockAlertOutbox(), outbox.EnvelopeOutbox()):
            relay = outbox.OutboxRelay(pool, producer, service="bench", topic_prefix=prefix, batch_size=500,
                                       table=table)
            started = time.perf_counter()
            while await relay.publish_batch():
                pass
            rates.append(relay.published / (time.perf_counter() - started))
            assert relay.published == len(messages), (relay.published, len(messages))
    finally:
        await producer.stop()
        await delete_topics(KAFKA, [prefix + t for t in ALL_TOPICS])
    return rates[0], rates[1]


def _pct(lags: list[float], p: int) -> float:
    ordered = sorted(lags)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


async def _steady_lags(pool, loop) -> list[float]:
    """Start `loop`; once it has made its first pass (a ticker's first reads the dead head once, from the index's
    start, to find its floor: not the steady state), add clocks whose yellow point falls due at STEADY_RATE per
    second from two seconds from then; run `loop` until the last is past, and return the lag of every one fired
    (seconds)."""
    await _settle(pool)  # each run starts alike: the previous run's and the park's dead rows vacuumed
    lags: list[float] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(loop(pool, stop, lags, ready))
    began = time.perf_counter()
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait([runner, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert ready.is_set(), runner.result()
    print(f"  {loop.__name__.strip('_')}: first pass done in {time.perf_counter() - began:.2f} s", flush=True)
    start = datetime.now(UTC) + timedelta(seconds=2)
    count = STEADY_RATE * STEADY_SECONDS
    rows = []
    for n in range(count):
        yellow = start + timedelta(seconds=n / STEADY_RATE)
        started = yellow - timedelta(hours=7)  # a 10-hour limit: only the yellow point falls due
        rows.append((uuid.uuid4(), "sign", 1, "city.ads", "urgent", "320508019044001", "grid-1", started, 10.0,
                     "hours", 0.7, 1, yellow, started + timedelta(hours=10), started + timedelta(hours=11),
                     started + timedelta(hours=12), "green", "none", yellow))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("phase_clock", records=rows, columns=_COLUMNS)
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + STEADY_SECONDS + 1.5)
    stop.set()
    await runner
    return lags


async def _run_real_ticker(pool, stop: asyncio.Event, lags: list[float], ready: asyncio.Event) -> None:
    """The production loop (entrypoints/ticker.py) on the real clock; `ready` once it has a floor."""

    class Watched(DueFloor):
        def reached(self, mark: int, next_due: datetime | None) -> None:
            super().reached(mark, next_due)
            if self.at is not None:
                ready.set()

    await run_ticker(_container(pool, RealClock()), stop, observe=lags.extend, floor=Watched())  # the caller's pool


def _container(pool, clock: Clock) -> SupervisionContainer:
    calendar, store = WorkCalendar(), PgClockStore(pool)
    return SupervisionContainer(name="supervision", settings=SupervisionSettings(), pool=pool, clock=clock,
                                bus=pg_message_bus(pool, clock, calendar, store), calendar=calendar,
                                clock_store=store)


async def _run_bare_loop(pool, stop: asyncio.Event, lags: list[float], ready: asyncio.Event) -> None:
    """Claim due rows and clear their next check (no domain, no events), sleeping like the ticker; `ready` after
    its first pass."""
    idle = SupervisionSettings().ticker_idle_seconds
    while not stop.is_set():
        async with pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(
                """WITH due AS (SELECT id, next_check_at FROM phase_clock WHERE next_check_at <= $1
                                 ORDER BY next_check_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                   UPDATE phase_clock c SET next_check_at = NULL FROM due WHERE c.id = due.id
                   RETURNING due.next_check_at""", datetime.now(UTC), 500)
        committed = datetime.now(UTC)
        lags.extend((committed - row["next_check_at"]).total_seconds() for row in due)
        if len(due) < 500:
            upcoming = await next_due_at(pool)
            wait = idle if upcoming is None else min(idle, max(0.0, (upcoming - committed).total_seconds()))
            ready.set()
            await asyncio.sleep(wait)


_COLUMNS = ["incident_id", "phase", "cycle", "category", "urgency", "grid_code", "unit_id", "started_at",
            "limit_amount", "limit_unit", "yellow_ratio", "due_version", "yellow_at", "due_at", "red_card_at",
            "leader_at", "light", "level", "next_check_at"]


async def _fill(pool) -> float:
    """OPEN_CLOCKS running sign clocks generated inside Postgres; DUE of them, spread evenly over the table,
    already past their yellow point (36 min ago), the rest due from a year ahead of the real clock (the steady
    run uses it) over the following month. The table's keys and indexes (and the foreign keys to it) are built
    after the rows, from their own definitions (the history bench's loader), then ANALYZE. Returns the seconds it
    took."""
    far = max(NOW, datetime.now(UTC)) + timedelta(days=365)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        restore = await strip_for_load(conn, ("phase_clock",))  # its triggers off too (no ticker runs yet)
        await conn.execute(
            """INSERT INTO phase_clock (incident_id, phase, cycle, category, urgency, grid_code, unit_id, started_at,
                                        limit_amount, limit_unit, yellow_ratio, due_version, yellow_at, due_at,
                                        red_card_at, leader_at, light, level, next_check_at)
               SELECT md5(n::text || $6::text)::uuid, 'sign', 1, 'city.ads', 'urgent',
                      '320508019044' || lpad((n % 999 + 1)::text, 3, '0'), 'grid-1', s, 2.0, 'hours', 0.7, 1,
                      s + interval '84 minutes', s + interval '2 hours', s + interval '3 hours',
                      s + interval '4 hours', 'green', 'none', s + interval '84 minutes'
                 FROM generate_series(0, $1::bigint - 1) AS n,
                      LATERAL (SELECT CASE WHEN n % $2::bigint = 0 AND n / $2::bigint < $3::bigint
                                           THEN $4::timestamptz - interval '2 hours'
                                           ELSE $5::timestamptz + n * (interval '30 days' / $1::bigint) END AS s)
                      AS started""",
            OPEN_CLOCKS, OPEN_CLOCKS // DUE, DUE, NOW, far, uuid.uuid4().hex, timeout=LONG)
        for statement in restore:
            await conn.execute(statement, timeout=LONG)
        await conn.execute("VACUUM ANALYZE phase_clock", timeout=LONG)
    return time.perf_counter() - started


async def _bare_claim_loop(pool) -> float:
    """Claim due rows in batches with SKIP LOCKED and push their next check away: no domain, no events."""
    await _settle(pool)
    started = time.perf_counter()
    claimed = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            count = await conn.fetchval(
                """WITH due AS (SELECT id FROM phase_clock WHERE next_check_at <= $1 ORDER BY next_check_at
                                 LIMIT $2 FOR UPDATE SKIP LOCKED),
                        moved AS (UPDATE phase_clock c SET next_check_at = NULL FROM due WHERE c.id = due.id
                                  RETURNING 1)
                   SELECT count(*) FROM moved""", NOW, SupervisionSettings().ticker_batch)
        if count == 0:
            break
        claimed += count
    return claimed / (time.perf_counter() - started)



if __name__ == "__main__":  # python -m bench.supervision_ticker [--open-clocks N]: this benchmark alone, smaller
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open-clocks", type=int, default=OPEN_CLOCKS, help="open clocks (BENCH_OPEN_CLOCKS)")
    parsed = parser.parse_args()
    OPEN_CLOCKS, DUE = parsed.open_clocks, min(100_000, parsed.open_clocks // 10)
    from bench.common import report

    report(run())
