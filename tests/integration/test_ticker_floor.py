"""The ticker reads the due index from a floor (entrypoints/ticker.py, migration 0013): nothing that makes a clock
due below it may go unfired or wait, whoever writes it, whoever holds it locked meanwhile, however many tickers run
and wherever the virtual clock jumps; and from the floor a pass no longer reads the dead entries fired thresholds
leave at the head of the index while an older transaction keeps them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.supervision.adapters.repository import (
    QUERIES,
    ClockRepository,
    PgClockStore,
    clock_from_row,
    next_due_from,
)
from services.supervision.bootstrap import SupervisionContainer, pg_message_bus
from services.supervision.config import SupervisionSettings
from services.supervision.domain.commands import FireDueClocks
from services.supervision.domain.model import CaseFacts, PhaseClock, Policy
from services.supervision.entrypoints.ticker import SOONER, DueFloor, run_ticker
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from tests.support import SERVICE_DIRS, FixedClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=ZONE)
CALENDAR = WorkCalendar()
POLICY = Policy("*", "urgent", "sign", 2, "hours")  # yellow +84 min, due +2 h, red card +3 h, leader +4 h
YELLOW = timedelta(minutes=84)
FAR = NOW + timedelta(days=1)  # a clock due then holds the floor well above NOW


@pytest.fixture
async def dsn(fresh_database):
    dsn = await fresh_database("tickfloor")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    return dsn


@pytest.fixture
async def pool(dsn):
    pool = await create_pool(dsn, 1, 16)
    yield pool
    await pool.close()


def a_clock(yellow_at: datetime) -> PhaseClock:
    """A running sign clock whose next threshold (yellow) is `yellow_at`."""
    facts = CaseFacts(uuid.uuid4(), "safety.fire", "urgent", "320508019044001", "grid-1")
    return PhaseClock.start(facts, "sign", POLICY, yellow_at - YELLOW, CALENDAR, cycle=1)


async def add(pool: asyncpg.Pool, *clocks: PhaseClock) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for clock in clocks:
            await ClockRepository(conn).add(clock)


async def stored(pool: asyncpg.Pool, clock: PhaseClock) -> PhaseClock:
    return clock_from_row(await pool.fetchrow("SELECT * FROM phase_clock WHERE id = $1", clock.id))


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds; fails after `timeout` seconds."""
    async def holds() -> bool:
        result = condition()
        return await result if not isinstance(result, bool) else result

    deadline = asyncio.get_running_loop().time() + timeout
    while not await holds():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def settled(pool: asyncpg.Pool, floor: DueFloor) -> bool:
    """The floor is the lowest next check (what it goes back to once everything due has fired)."""
    return floor.at == await pool.fetchval("SELECT min(next_check_at) FROM phase_clock")


def light_of(pool: asyncpg.Pool, clock: PhaseClock, light: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await pool.fetchval("SELECT light FROM phase_clock WHERE id = $1", clock.id) == light
    return check


@asynccontextmanager
async def ticking(pool: asyncpg.Pool, clock: FixedClock, sessions: int = 2,
                  batch: int = 5) -> AsyncIterator[DueFloor]:
    """The real ticker loop on `clock` (the test moves it) until the block ends; yields its floor."""
    settings = SupervisionSettings(ticker_batch=batch, ticker_sessions=sessions, ticker_idle_seconds=0.05)
    store = PgClockStore(pool)
    container = SupervisionContainer(name="supervision", settings=settings, pool=pool, clock=clock,
                                     bus=pg_message_bus(pool, clock, CALENDAR, store), calendar=CALENDAR,
                                     clock_store=store)
    floor, stop = DueFloor(), asyncio.Event()
    task = asyncio.create_task(run_ticker(container, stop, floor=floor))
    try:
        yield floor
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def alert_steps(pool: asyncpg.Pool) -> dict[int, list[list[str]]]:
    """Every clock's alerts, oldest first: each a list of the steps it fired."""
    steps: dict[int, list[list[str]]] = {}
    for row in await pool.fetch("SELECT clock_id, steps FROM clock_alert ORDER BY id"):
        steps.setdefault(row["clock_id"], []).append(list(row["steps"]))
    return steps


async def _start(pool: asyncpg.Pool) -> PhaseClock:
    clock = a_clock(NOW - timedelta(minutes=1))
    await add(pool, clock)
    return clock


async def _resume(pool: asyncpg.Pool) -> PhaseClock:
    """Paused 10 minutes in (no next check), resumed ten minutes later as of an event the consumer reads late:
    yellow is 6 minutes past."""
    clock = a_clock(NOW - timedelta(minutes=16))
    clock.pause(clock.started_at + timedelta(minutes=10))
    await add(pool, clock)
    async with pool.acquire() as conn, conn.transaction():
        running = await ClockRepository(conn).running_in_phase(clock.incident_id, "sign")
        assert running is not None and running.next_check_at() is None
        running.resume(clock.started_at + timedelta(minutes=20), CALENDAR)
        assert running.next_check_at() == NOW - timedelta(minutes=6)
        await ClockRepository(conn).save(running)
    return clock


async def _bring_forward(pool: asyncpg.Pool) -> PhaseClock:
    """Due in two days, then (a calendar change, a fix) a minute ago."""
    clock = a_clock(NOW + timedelta(days=2))
    await add(pool, clock)
    async with pool.acquire() as conn, conn.transaction():
        running = await ClockRepository(conn).running_in_phase(clock.incident_id, "sign")
        assert running is not None
        running.yellow_at = NOW - timedelta(minutes=1)
        await ClockRepository(conn).save(running)
    return clock


@pytest.mark.parametrize("write", [_start, _resume, _bring_forward], ids=["started", "resumed", "brought forward"])
async def test_a_clock_made_due_below_the_floor_fires_at_once(pool, write):
    far = a_clock(FAR)
    await add(pool, far)
    async with ticking(pool, FixedClock(NOW)) as floor:
        await until(lambda: floor.at == FAR)  # the floor is a day ahead of every clock written next
        clock = await write(pool)
        await until(light_of(pool, clock, "yellow"))
        await until(lambda: settled(pool, floor))  # and back up once it fired
    assert (await stored(pool, far)).light == "green"
    assert (await alert_steps(pool)) == {clock.id: [["yellow", "reminder"]]}


async def _roll_back(conn: asyncpg.Connection, clock: PhaseClock) -> None:
    await conn.execute("ROLLBACK")


async def _commit_unchanged(conn: asyncpg.Connection, clock: PhaseClock) -> None:
    """A consumer that locked the clock (a result submitted, say) and saved it with the same next check."""
    await ClockRepository(conn).save(clock)
    await conn.execute("COMMIT")


async def _crash(conn: asyncpg.Connection, clock: PhaseClock) -> None:
    """Another ticker's session that claimed it and died before its commit."""
    conn.terminate()


@pytest.mark.parametrize("release", [_roll_back, _commit_unchanged, _crash],
                         ids=["writer rolls back", "writer commits it unchanged", "other ticker crashes"])
async def test_a_clock_skipped_while_another_session_held_it_fires_once_released(pool, dsn, release):
    held, free, far = a_clock(NOW - timedelta(minutes=2)), a_clock(NOW - timedelta(minutes=1)), a_clock(FAR)
    await add(pool, held, free, far)
    locker = await asyncpg.connect(dsn)
    try:
        await locker.execute("BEGIN")
        if release is _crash:
            claimed = await locker.fetch(QUERIES.fire_due_clocks, NOW, 1, None)
            assert [row["due_time"] for row in claimed] == [held.yellow_at]
        else:
            row = await locker.fetchrow(QUERIES.running_clock, held.incident_id, "sign")
            held = clock_from_row(row)
        async with ticking(pool, FixedClock(NOW)) as floor:
            await until(light_of(pool, free, "yellow"))  # passes ran meanwhile, and skipped the held clock
            await until(lambda: floor.at == held.yellow_at)  # the floor stays at it: its committed next check
            await release(locker, held)
            await until(light_of(pool, held, "yellow"))
            await until(lambda: settled(pool, floor))
    finally:
        if not locker.is_closed():
            await locker.close()
    assert (await alert_steps(pool)) == {held.id: [["yellow", "reminder"]], free.id: [["yellow", "reminder"]]}


async def test_two_tickers_fire_every_threshold_once_and_each_sees_what_is_written_below_its_floor(pool):
    due = [a_clock(NOW - timedelta(seconds=n)) for n in range(60)]
    await add(pool, *due, a_clock(FAR))
    clock = FixedClock(NOW)
    async with ticking(pool, clock, sessions=2, batch=4) as one, ticking(pool, clock, sessions=2, batch=4) as two:
        await until(lambda: all_yellow(pool, due))
        await until(lambda: settled(pool, one))
        await until(lambda: settled(pool, two))
        late = [a_clock(NOW - timedelta(minutes=n)) for n in range(1, 21)]  # below both floors
        for batch in (late[:10], late[10:]):
            await add(pool, *batch)
        await until(lambda: all_yellow(pool, due + late))
        await until(lambda: settled(pool, one))
        await until(lambda: settled(pool, two))
    steps = await alert_steps(pool)
    assert steps == {c.id: [["yellow", "reminder"]] for c in due + late}


async def all_yellow(pool: asyncpg.Pool, clocks: list[PhaseClock]) -> bool:
    return await pool.fetchval("SELECT count(*) FROM phase_clock WHERE id = ANY($1) AND light = 'yellow'",
                               [c.id for c in clocks]) == len(clocks)


async def test_virtual_clock_jumps_fire_each_threshold_once_when_due(pool):
    """Forward past a threshold, back before it, a clock started in the gap, forward past everything."""
    clock = FixedClock(NOW)
    ahead = a_clock(NOW + timedelta(minutes=24))  # red at +60 min, red card +120, leader +180
    await add(pool, ahead)
    async with ticking(pool, clock) as floor:
        await until(lambda: floor.at == ahead.yellow_at)
        clock.advance(minutes=30)
        await until(light_of(pool, ahead, "yellow"))
        await until(lambda: floor.at == ahead.due_at)
        clock.advance(minutes=-30)  # set back: its yellow now lies ahead again, and is not fired twice
        gap = a_clock(NOW - timedelta(minutes=1))  # red at NOW + 35 min: before the floor the jump left
        await add(pool, gap)
        await until(light_of(pool, gap, "yellow"))
        await until(lambda: floor.at == gap.due_at)
        clock.advance(minutes=40)
        await until(light_of(pool, gap, "red"))
        assert (await stored(pool, ahead)).light == "yellow"
        clock.advance(hours=4)
        await until(lambda: floor.at is not None and floor.at > NOW + timedelta(days=365))  # nothing left to fire
    assert (await alert_steps(pool)) == {
        ahead.id: [["yellow", "reminder"], ["red", "yellow_card", "red_card", "leader"]],
        gap.id: [["yellow", "reminder"], ["red", "yellow_card"], ["red_card", "leader"]]}


async def test_the_trigger_tells_of_clocks_due_sooner_and_of_nothing_else(pool, dsn):
    heard: list[str] = []
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(SOONER, lambda *args: heard.append(args[3]))
        started = a_clock(NOW + timedelta(minutes=10, seconds=30.5))
        await add(pool, started)  # due at all
        async with pool.acquire() as conn, conn.transaction():
            repo = ClockRepository(conn)
            clock = await repo.running_in_phase(started.incident_id, "sign")
            assert clock is not None
            await repo.save(clock)  # unchanged: nothing
            clock.yellow_at += timedelta(hours=1)
            await repo.save(clock)  # later: nothing
            clock.yellow_at = NOW - timedelta(minutes=1, seconds=0.25)
            await repo.save(clock)  # sooner
        await pg_message_bus(pool, FixedClock(NOW), CALENDAR).handle(FireDueClocks(10))  # the ticker: later
        await pool.execute("UPDATE phase_clock SET next_check_at = NULL")  # parked: nothing
        await pool.execute("UPDATE phase_clock SET next_check_at = '-infinity'")  # due always: from the start
        await pool.execute("SELECT pg_notify($1, 'end')", SOONER)
        await until(lambda: "end" in heard)
    finally:
        await listener.close()

    def second(at: datetime) -> str:
        return str(int(at.timestamp() // 1))

    assert heard == [second(started.yellow_at), second(NOW - timedelta(minutes=1, seconds=0.25)), "", "end"]


@pytest.mark.parametrize("query", ["next_due_from", "fire_due_clocks"])
async def test_from_the_floor_a_pass_does_not_read_the_dead_head_an_old_snapshot_keeps(pool, dsn, query):
    """2,000 thresholds fired while a backup's snapshot is open: their old index entries cannot be removed or
    marked dead. Read from the start they cost a heap visit each; from the floor, nothing."""
    await add(pool, *(a_clock(NOW - timedelta(seconds=n)) for n in range(2_000)), a_clock(FAR))
    backup = await asyncpg.connect(dsn)
    try:
        await backup.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await backup.fetchval("SELECT count(*) FROM phase_clock")
        bus = pg_message_bus(pool, FixedClock(NOW), CALENDAR)
        while await bus.handle(FireDueClocks(500)):
            pass
        await pool.execute("VACUUM phase_clock")  # removes nothing the snapshot may still see
        head = await next_due_from(pool, None)  # the fired clocks' red points, the ticker's floor after them
        assert head is not None and head > NOW
        from_start, from_floor = await _blocks(pool, query, None), await _blocks(pool, query, head)
    finally:
        await backup.close()
    assert from_start > 50  # the head is there, dead
    assert from_floor < 10, from_floor


async def _blocks(pool: asyncpg.Pool, query: str, floor: datetime | None) -> int:
    args = (floor,) if query == "next_due_from" else (NOW.astimezone(UTC), 500, floor)
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            explained = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {getattr(QUERIES, query)}",
                                            *args)
        finally:
            await transaction.rollback()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]  # the pool may decode json
    return int(plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"])
