"""The ticker fires in SQL (`fire_due_clocks`); PhaseClock.tick is the rule it must follow. For every light,
level and liveness of a clock and every position of now among its thresholds, both must leave the same light,
level and next check, and publish the same events (as the relay renders the SQL's alerts)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import uuid
from datetime import datetime, timedelta

import pytest

from services.supervision.adapters.alert_outbox import ClockAlertOutbox
from services.supervision.adapters.repository import ClockRepository
from services.supervision.bootstrap import pg_message_bus
from services.supervision.domain.commands import FireDueClocks
from services.supervision.domain.model import LEVELS, LIGHTS, CaseFacts, PhaseClock, Policy
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from tests.support import SERVICE_DIRS, FixedClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=ZONE)
CALENDAR = WorkCalendar()
POLICY = Policy("*", "urgent", "sign", 2, "hours")  # yellow +84 min, due +2 h, red card +3 h, leader +4 h
# Where now falls: before yellow, on each threshold, between each pair, past the leader's 督办.
AGES = [timedelta(minutes=m) for m in (30, 84, 100, 120, 150, 180, 200, 240, 300)]
LIVENESS = ("running", "paused", "stopped")


@pytest.fixture
async def pool(fresh_database):
    dsn = await fresh_database("ticksql")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    pool = await create_pool(dsn, 1, 4)
    yield pool
    await pool.close()


def a_clock(light: str, level: str, age: timedelta, liveness: str) -> PhaseClock:
    started = NOW - age
    facts = CaseFacts(uuid.uuid4(), "safety.fire", "urgent", "320508019044001", "grid-1")
    clock = PhaseClock.start(facts, "sign", POLICY, started, CALENDAR, cycle=1)
    clock.light, clock.level = light, level
    if liveness == "paused":
        clock.pause(started + timedelta(minutes=10))
    elif liveness == "stopped":
        clock.stop(started + timedelta(minutes=10), "signed")
    return clock


async def test_sql_firing_follows_phase_clock_tick_in_every_state(pool):
    states = list(itertools.product(LIGHTS, LEVELS, AGES, LIVENESS))
    expected = {}
    async with pool.acquire() as conn:
        clocks = ClockRepository(conn)
        for light, level, age, liveness in states:
            clock = a_clock(light, level, age, liveness)
            await clocks.add(clock)
            # Claim every one, even those the ticker would never see (paused, stopped, nothing due).
            await conn.execute("UPDATE phase_clock SET next_check_at = $2 WHERE id = $1", clock.id,
                               NOW - timedelta(days=1))
            ticked = copy.deepcopy(clock)
            ticked.tick(NOW)
            expected[clock.incident_id] = (ticked.light, ticked.level, ticked.next_check_at(),
                                           [_instants(e.model_dump(mode="json")) for e in ticked.events])

    bus = pg_message_bus(pool, FixedClock(NOW), CALENDAR)
    assert len(await bus.handle(FireDueClocks(10_000))) == len(states)

    async with pool.acquire() as conn:
        published: dict[str, list[dict]] = {}
        for message in await ClockAlertOutbox().unsent(conn, 10_000):
            envelope = json.loads(message.value)
            published.setdefault(envelope["subject"], []).append(_instants(envelope["data"]))
    moved = 0
    for incident_id, (light, level, next_check, events) in expected.items():
        row = await pool.fetchrow("SELECT light, level, next_check_at FROM phase_clock WHERE incident_id = $1",
                                  incident_id)
        assert (row["light"], row["level"], row["next_check_at"]) == (light, level, next_check), incident_id
        assert published.get(str(incident_id), []) == events
        moved += bool(events)
    assert 0 < moved < len(states)  # some states fire, some do not: both sides were exercised


def _instants(data: dict) -> dict:
    """Times as instants: Postgres hands them back in UTC, the domain keeps the calendar's zone."""
    return {k: datetime.fromisoformat(v) if k in ("at", "due_at") else v for k, v in data.items()}


async def test_a_clock_is_fired_once_however_many_tickers_run(pool):
    async with pool.acquire() as conn:
        clocks = ClockRepository(conn)
        for _ in range(50):
            clock = a_clock("green", "none", timedelta(minutes=130), "running")
            await clocks.add(clock)
    bus = pg_message_bus(pool, FixedClock(NOW), CALENDAR)

    def tick():
        return bus.handle(FireDueClocks(7))

    fired = 0
    while batches := [n for n in await asyncio.gather(*(tick() for _ in range(3))) if n]:
        fired += sum(len(n) for n in batches)
    assert fired == 50
    async with pool.acquire() as conn:
        messages = await ClockAlertOutbox().unsent(conn, 1_000)
        again = await ClockAlertOutbox().unsent(conn, 1_000)
    # Each clock crossed yellow and red: light, reminder, light, yellow card, once each.
    assert len(messages) == 200 and len({m.value for m in messages}) == 200
    # Rendered again (a relay that crashed before marking them sent): the same bytes, so the same event ids.
    assert [m.value for m in again] == [m.value for m in messages]


async def test_a_clock_started_at_the_cases_level_fires_the_same_in_sql(pool):
    """DOMAIN.md §5 (督办 belongs to the case; raised levels are never lowered): a clock that starts at the
    case's level (its `start_level`) fires, in SQL as in PhaseClock.tick, its own lights and only the levels
    above the one it carried; what it carried is kept."""
    expected = {}
    async with pool.acquire() as conn:
        clocks = ClockRepository(conn)
        for level in LEVELS:
            facts = CaseFacts(uuid.uuid4(), "safety.fire", "urgent", "320508019044001", "grid-1")
            clock = PhaseClock.start(facts, "sign", POLICY, NOW - timedelta(minutes=150), CALENDAR, cycle=2,
                                     started_by="reassigned", level=level)
            await clocks.add(clock)
            ticked = copy.deepcopy(clock)
            ticked.tick(NOW)
            expected[clock.incident_id] = (ticked.light, ticked.level, ticked.next_check_at(),
                                           [_instants(e.model_dump(mode="json")) for e in ticked.events])
    assert len(await pg_message_bus(pool, FixedClock(NOW), CALENDAR).handle(FireDueClocks(100))) == len(LEVELS)
    async with pool.acquire() as conn:
        published: dict[str, list[dict]] = {}
        for message in await ClockAlertOutbox().unsent(conn, 1_000):
            envelope = json.loads(message.value)
            published.setdefault(envelope["subject"], []).append(_instants(envelope["data"]))
    for incident_id, (light, level, next_check, events) in expected.items():
        row = await pool.fetchrow("SELECT light, level, next_check_at, start_level FROM phase_clock"
                                  " WHERE incident_id = $1", incident_id)
        assert (row["light"], row["level"], row["next_check_at"]) == (light, level, next_check)
        assert published.get(str(incident_id), []) == events
    # 150 minutes into a 2-hour limit: yellow and red; the red card fires only for a clock below it.
    carried = {row["start_level"]: [e.get("level") or e.get("light") for e in published[str(row["incident_id"])]]
               for row in await pool.fetch("SELECT incident_id, start_level FROM phase_clock")}
    assert carried == {"none": ["yellow", "reminder", "red", "yellow_card"],
                       "reminder": ["yellow", "red", "yellow_card"], "yellow_card": ["yellow", "red"],
                       "red_card": ["yellow", "red"], "leader": ["yellow", "red"]}


async def test_the_metrics_queries_count_lights_per_district_overdue_and_unsent_alerts(pool):
    """The supervision API's gauges (entrypoints/metrics.py) and the relay's outbox age, on the real schema."""
    from prometheus_client import REGISTRY

    from services.supervision.entrypoints.metrics import ClockMetrics
    from services.supervision.views import next_due_at

    async with pool.acquire() as conn:
        assert await ClockAlertOutbox().oldest_unsent_age(conn) is None
        clocks = ClockRepository(conn)
        for age, liveness in ((timedelta(minutes=150), "running"), (timedelta(minutes=150), "stopped"),
                              (timedelta(minutes=30), "running")):
            clock = a_clock("green", "none", age, liveness)
            await clocks.add(clock)
    bus = pg_message_bus(pool, FixedClock(NOW), CALENDAR)
    await bus.handle(FireDueClocks(10_000))  # the running 150-minute-old one turns red, writes its alert
    async with pool.acquire() as conn:
        age = await ClockAlertOutbox().oldest_unsent_age(conn)
    assert age is not None and 0 <= age < 60

    await ClockMetrics(pool, FixedClock(NOW + timedelta(hours=2))).refresh()
    district = {"district": "320508"}
    assert REGISTRY.get_sample_value("supervision_clocks_running", {**district, "light": "red"}) == 1
    assert REGISTRY.get_sample_value("supervision_clocks_running", {**district, "light": "green"}) == 1
    due = await next_due_at(pool)  # the next threshold of any clock, which the ticker (not run since) has not fired
    assert due is not None and due < NOW + timedelta(hours=2)
    assert REGISTRY.get_sample_value("supervision_ticker_overdue_seconds") == \
        (NOW + timedelta(hours=2) - due).total_seconds()
