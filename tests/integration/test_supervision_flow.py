"""Supervision's consumer handlers on a real database, fed events in and out of order, duplicated."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import pytest

from services.supervision.adapters.alert_outbox import ClockAlertOutbox
from services.supervision.bootstrap import pg_message_bus
from services.supervision.domain.commands import FireDueClocks
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events import intake as ev
from shared.events.envelope import Envelope
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from shared.messaging.consumer import EventProcessor, Incoming
from tests.support import SERVICE_DIRS, FixedClock, one_by_one_then_as_a_run

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)  # Monday
OWNER = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1")


@pytest.fixture
async def supervision(fresh_database):
    dsn = await fresh_database("sup")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    pool = await create_pool(dsn, 1, 4)
    clock = FixedClock(T0)
    bus = pg_message_bus(pool, clock, WorkCalendar())
    processor = EventProcessor("supervision", bus.event_handlers, bus.uow, pool, max_attempts=1)
    yield pool, clock, processor, bus
    await pool.close()


async def feed(processor, event, offset=[0]) -> str:  # noqa: B006 - a running offset for the fake records
    offset[0] += 1
    env = Envelope.wrap(event, source="/" + event.type.split(".")[0], time=event.at)
    return await processor.process(Incoming("t", 0, offset[0], env.subject, env.model_dump_json()))


async def clocks(pool, incident_id):
    return [dict(r) for r in await pool.fetch(
        "SELECT phase, cycle, light, level, stopped_at IS NULL AS running, paused_at IS NOT NULL AS paused,"
        " due_at, due_version FROM phase_clock WHERE incident_id = $1 ORDER BY id", incident_id)]


def received(incident_id, at=T0):
    return ev.IncidentReceived(incident_id=incident_id, at=at, source="gridworker", category="city.garbage",
                               urgency="normal", title="垃圾", reported_at=at)


def assigned(incident_id, at=T0):
    return IncidentAssigned(incident_id=incident_id, at=at, category="city.garbage", urgency="normal",
                            grid_code="320508019044001", owner=OWNER, reason="located")


async def test_assignment_before_receipt_and_duplicate_signatures_give_the_right_clocks(supervision):
    pool, clock, processor, _ = supervision
    case = uuid.uuid4()
    assert await feed(processor, assigned(case)) == "applied"   # out of order: routing's event first
    assert await feed(processor, received(case)) == "applied"
    signed = ev.IncidentSigned(incident_id=case, at=T0 + timedelta(hours=1), actor="w1")
    assert await feed(processor, signed) == "applied"
    again = ev.IncidentSigned(incident_id=case, at=T0 + timedelta(hours=2), actor="w1")  # another id, same fact
    assert await feed(processor, again) == "applied"
    rows = await clocks(pool, case)
    assert [(r["phase"], r["cycle"], r["running"]) for r in rows] == [("sign", 1, False), ("handle", 1, True)]
    # Handle: 5 working days counted from Tuesday → Mon 2026-11-30 17:30.
    assert rows[1]["due_at"] == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE)


async def test_an_assignment_writes_its_fact_and_the_case_in_one_statement_before_or_after_receipt(supervision):
    """cases.assign (one round trip): the fact, the case pointing at it (made when routing's event came first),
    the names; what the case knew already (a 12345 deadline, 事项性质, its grid when the event has none) stays."""
    pool, clock, processor, _ = supervision
    early, hotline = uuid.uuid4(), uuid.uuid4()
    await feed(processor, assigned(early))
    deadline = T0 + timedelta(days=3)
    await feed(processor, ev.IncidentReceived(incident_id=hotline, at=T0, source="hotline", category="city.garbage",
                                              urgency="normal", title="垃圾", reported_at=T0, nature="request",
                                              hotline_order_no="GD-7", deadline=deadline))
    await feed(processor, assigned(hotline))
    moved = IncidentReassigned(incident_id=hotline, at=T0 + timedelta(hours=1), category="city.garbage",
                               urgency="urgent", grid_code=None, reason="dispatched",
                               owner=Owner(unit_id="community-1", unit_name="一社区", unit_kind="community"))
    await feed(processor, moved)
    cases = {r["incident_id"]: r for r in await pool.fetch(
        "SELECT c.*, f.unit_id AS fact_unit, f.assigned_at AS fact_at, f.reassigned"
        "  FROM supervised_case c JOIN assignment_fact f ON f.id = c.assignment_id")}
    first = cases[early]
    assert (first["unit_id"], first["grid_code"], first["fact_unit"], first["assigned_at"], first["hotline"]) == (
        "grid-1", "320508019044001", "grid-1", T0, False)
    second = cases[hotline]
    assert (second["unit_id"], second["urgency"], second["grid_code"], second["deadline"], second["nature"],
            second["hotline"]) == ("community-1", "urgent", "320508019044001", deadline, "request", True)
    assert (second["fact_unit"], second["fact_at"], second["assigned_at"], second["reassigned"]) == (
        "community-1", moved.at, moved.at, True)
    assert await pool.fetchval("SELECT count(*) FROM assignment_fact WHERE incident_id = $1", hotline) == 2
    assert await pool.fetchval("SELECT name FROM unit_name WHERE key = 'community-1'") == "一社区"


async def test_suspend_resume_extension_and_return_over_a_real_database(supervision):
    pool, clock, processor, bus = supervision
    case = uuid.uuid4()
    for event in (received(case), assigned(case), ev.IncidentSigned(incident_id=case, at=T0, actor="w1")):
        await feed(processor, event)
    await feed(processor, ev.IncidentSuspended(incident_id=case, at=T0 + timedelta(hours=1), reason="挂账"))
    assert (await clocks(pool, case))[-1]["paused"] is True
    clock.advance(days=30)  # a month passes while suspended: nothing fires
    assert await bus.handle(FireDueClocks(100)) == []
    await feed(processor, ev.IncidentResumed(incident_id=case, at=clock.now()))
    handle = (await clocks(pool, case))[-1]
    assert handle["paused"] is False and handle["due_version"] == 2 and handle["light"] == "green"
    await feed(processor, ev.ExtensionDecided(incident_id=case, at=clock.now(), approved=True, amount=2,
                                              unit="working_days"))
    extended = (await clocks(pool, case))[-1]
    assert extended["due_version"] == 3 and extended["due_at"] > handle["due_at"]
    await feed(processor, ev.IncidentReturned(incident_id=case, at=clock.now(), reason="非本单位职责",
                                              return_count=1))
    assert not any(r["running"] for r in await clocks(pool, case))


async def test_the_ticker_fires_each_threshold_once_across_repeated_runs(supervision):
    pool, clock, processor, bus = supervision
    case = uuid.uuid4()
    await feed(processor, received(case))
    await feed(processor, assigned(case))  # normal sign: 1 working day → Tue 17:30
    clock.advance(days=10)
    assert len(await bus.handle(FireDueClocks(100))) == 1
    assert await bus.handle(FireDueClocks(100)) == []
    [row] = await clocks(pool, case)
    assert (row["light"], row["level"]) == ("red", "leader")
    async with pool.acquire() as conn:
        types = [json.loads(m.value)["type"] for m in await ClockAlertOutbox().unsent(conn, 100)]
    assert types.count("supervision.light.changed") == 2 and types.count("supervision.escalation.raised") == 4


async def test_a_case_placed_by_address_at_community_level_is_supervised_in_that_community(supervision):
    pool, clock, processor, _ = supervision
    case = uuid.uuid4()
    await feed(processor, received(case))
    placed = IncidentAssigned(incident_id=case, at=T0, category="city.garbage", urgency="normal",
                              community_code="320508019044", street_code="320508019", district_code="320508",
                              owner=Owner(unit_id="community-320508019044", unit_name="梅花社区",
                                          unit_kind="community"), reason="address: 梅花社区")
    assert await feed(processor, placed) == "applied"
    [row] = await pool.fetch("SELECT grid_code FROM phase_clock WHERE incident_id = $1", case)
    assert row["grid_code"] == "320508019044"  # a supervisor of the community (or above) sees its clock


async def test_a_hotline_case_late_extended_by_12345_and_reassigned_keeps_its_deadline_and_level(supervision):
    """DOMAIN.md §5 over a real database: signed after its 12345 deadline the handle clock is red at once; a
    local approval moves nothing, 12345's moves the due and the deadline; a 改派 stops the old owner's clock and
    gives the new owner a sign clock at the case's 督办 level; the new owner's handle clock is bound by the
    moved deadline."""
    pool, clock, processor, _ = supervision
    case = uuid.uuid4()
    deadline = T0 + timedelta(hours=2)
    await feed(processor, ev.IncidentReceived(incident_id=case, at=T0, source="hotline", category="city.garbage",
                                              urgency="normal", title="垃圾", reported_at=T0,
                                              hotline_order_no="GD-9", deadline=deadline))
    await feed(processor, assigned(case))
    clock.advance(hours=3)
    await feed(processor, ev.IncidentSigned(incident_id=case, at=clock.now(), actor="w1", unit_id="grid-1"))
    rows = await clocks(pool, case)
    assert (rows[-1]["phase"], rows[-1]["due_at"], rows[-1]["light"], rows[-1]["level"]) == (
        "handle", deadline, "red", "yellow_card")

    for actor in ("sup", "12345"):
        await feed(processor, ev.ExtensionDecided(incident_id=case, at=clock.now(), actor=actor, approved=True,
                                                  amount=2, unit="working_days"))
    moved = WorkCalendar().add(deadline, 2, "working_days")  # Mon 11:00 + 2 wd → Wed 11-25 17:30
    assert moved == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE)
    extended = (await clocks(pool, case))[-1]
    assert (extended["due_at"], extended["due_version"], extended["light"], extended["level"]) == (
        moved, 2, "green", "yellow_card")
    assert await pool.fetchval("SELECT deadline FROM supervised_case WHERE incident_id = $1", case) == moved

    again = IncidentReassigned(incident_id=case, at=clock.now(), category="city.garbage", urgency="normal",
                               grid_code="320508019044001", reason="dispatched",
                               owner=Owner(unit_id="community-1", unit_name="一社区", unit_kind="community"))
    await feed(processor, again)
    rows = await pool.fetch("SELECT phase, stop_reason, level, start_level, unit_id FROM phase_clock"
                            " WHERE incident_id = $1 ORDER BY id", case)
    assert [(r["phase"], r["stop_reason"]) for r in rows] == [("sign", "signed"), ("handle", "reassigned"),
                                                              ("sign", None)]
    assert (rows[-1]["level"], rows[-1]["start_level"], rows[-1]["unit_id"]) == ("yellow_card", "yellow_card",
                                                                                  "community-1")
    await feed(processor, ev.IncidentSigned(incident_id=case, at=clock.now(), actor="c1", unit_id="community-1"))
    last = (await clocks(pool, case))[-1]
    assert (last["phase"], last["due_at"], last["level"]) == ("handle", moved, "yellow_card")


async def test_a_clock_started_right_after_another_process_changed_the_calendar_counts_on_the_new_days(
        supervision):
    """DOMAIN §5 (working days are the calendar's, overrides included): the consumer's calendar is another
    process's copy; a clock it starts a moment after the API made Tuesday a holiday counts on the new days."""
    from datetime import date

    from services.supervision.domain.commands import OverrideCalendarDay

    pool, clock, processor, _ = supervision
    api = pg_message_bus(pool, clock, WorkCalendar())  # the API process, with a calendar of its own
    case = uuid.uuid4()
    await feed(processor, received(case))  # the consumer has read its calendar by now
    await api.handle(OverrideCalendarDay(date(2026, 11, 24), False, "临时休假"))
    await feed(processor, assigned(case))
    [sign] = await clocks(pool, case)
    assert sign["due_at"] == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE)  # Wednesday, not the holiday Tuesday


async def test_a_calendar_change_waits_for_a_clock_being_started_and_recounts_it(supervision):
    """No clock escapes a change: one being started when the change comes is committed first, then counted
    again on the new days (the change waits for it)."""
    import asyncio
    from datetime import date

    from services.supervision.domain.commands import OverrideCalendarDay
    from services.supervision.service_layer.calendar import refresh_calendar
    from services.supervision.service_layer.unit_of_work import PgSupervisionUnitOfWork
    from tests.e2e.stack import eventually

    pool, clock, processor, _ = supervision
    case = uuid.uuid4()
    await feed(processor, received(case))
    starting = PgSupervisionUnitOfWork(pool, clock)
    async with starting:  # a consumer's transaction that has looked at the calendar and is starting a clock
        await refresh_calendar(starting, WorkCalendar())
        api = pg_message_bus(pool, clock, WorkCalendar())
        change = asyncio.create_task(api.handle(OverrideCalendarDay(date(2026, 11, 24), False, "临时休假")))

        async def change_is_waiting() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 1

        await eventually(change_is_waiting, timeout=10)
        assert not change.done()
        await starting.clocks.add(_sign_clock_due_tuesday(case))
        await starting.commit()
    assert await change == 1  # the clock committed meanwhile was counted again
    [sign] = await clocks(pool, case)
    assert sign["due_at"] == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE)


def _sign_clock_due_tuesday(case):
    from services.supervision.domain.model import CaseFacts, PhaseClock, Policy

    facts = CaseFacts(case, "city.garbage", "normal", "320508019044001", "grid-1")
    return PhaseClock.start(facts, "sign", Policy("*", "normal", "sign", 1, "working_days"), T0, WorkCalendar(),
                            cycle=1)


async def test_a_started_clocks_alert_wakes_the_relay_at_commit(supervision):
    """An alert's commit hints the relay (insert_clock_alerts notifies in the same statement): a caught-up relay reads
    again only when woken, so an alert without its hint would wait for the relay's poll. The assignment arrives a
    month late: its sign clock starts past its thresholds, and the lights it fires are its alert."""
    pool, clock, processor, _ = supervision
    clock.advance(days=30)
    hints: list[str] = []

    def hint(*args: object) -> None:
        hints.append(str(args[2]))

    async with pool.acquire() as listener:
        await listener.add_listener("outbox", hint)
        case = uuid.uuid4()
        assert await feed(processor, received(case)) == "applied"
        assert await feed(processor, assigned(case)) == "applied"
        async with asyncio.timeout(10):
            while not hints:
                await asyncio.sleep(0.02)
        await listener.remove_listener("outbox", hint)
    assert await pool.fetchval("SELECT count(*) FROM clock_alert a JOIN phase_clock c ON c.id = a.clock_id"
                               " WHERE c.incident_id = $1 AND a.sent_at IS NULL", case) == 1


async def test_a_run_of_received_cases_is_written_at_once_as_one_by_one_writes_it(supervision):
    """The consumer hands a run of IncidentReceived to on_received_many (one statement): each case is what receiving
    them one by one leaves: a 12345 order with its deadline and 事项性质, a case whose assignment came first (its
    unit and grid stay), a case with a grid of its own."""
    pool, clock, processor, bus = supervision
    early, hotline, plain = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    run = [received(early), ev.IncidentReceived(incident_id=hotline, at=T0, source="hotline", category="city.garbage",
                                                urgency="urgent", title="垃圾", reported_at=T0, nature="request",
                                                hotline_order_no="GD-8", deadline=T0 + timedelta(days=3)),
           received(plain).model_copy(update={"grid_code": "320508019044002"})]

    async def assignment_first(pool):
        await feed(processor, assigned(early))

    async def read(pool):
        return [tuple(r) for r in await pool.fetch(
            "SELECT incident_id, category, urgency, grid_code, unit_id, signed, deadline, hotline, nature,"
            " assignment_id IS NOT NULL FROM supervised_case ORDER BY incident_id")]

    async def reset(pool):
        await pool.execute("TRUNCATE supervised_case, assignment_fact, phase_clock, clock_alert CASCADE")
        await assignment_first(pool)

    await assignment_first(pool)
    one_by_one, as_a_run, calls = await one_by_one_then_as_a_run(bus, pool, run, read, reset)
    assert calls == [3]
    assert as_a_run == one_by_one
    by_case = {row[0]: row for row in as_a_run}
    assert by_case[early][3:5] == ("320508019044001", "grid-1") and by_case[hotline][6:9] == (
        T0 + timedelta(days=3), True, "request")


async def test_a_run_of_assignments_starts_its_clocks_at_once_as_one_by_one_does(supervision):
    """The consumer hands a run of 派遣 to on_assigned_many (the facts and cases in one statement, the sign phases'
    histories in one, the clocks in one): every case, fact, clock, alert and unit name is what one by one leaves. The
    run has a 12345 order (its policy by 事项性质), a case assigned before (its running sign clock stops, cycle 2), an
    assignment a week late (its clock red at once, with its alert), two cases of one new district (its name stored
    once, at the first one's time), a renamed community (the new name stored) and a street whose stored name was seen
    later than this run's (it stays)."""
    pool, clock, processor, bus = supervision
    again, hotline, late, first, second = (uuid.uuid4() for _ in range(5))
    community = Owner(unit_id="community-1", unit_name="一社区", unit_kind="community")
    street = Owner(unit_id="street-1", unit_name="旧街道名", unit_kind="street")

    def assigned_to(case, owner, at=T0, co_owners=()):
        return IncidentAssigned(incident_id=case, at=at, category="city.garbage", urgency="normal",
                                grid_code="320508019044001", community_code="320508019044", street_code="320508019",
                                district_code="320508", owner=owner, co_owners=list(co_owners), reason="rule")

    district = Owner(unit_id="district-1", unit_name="姑苏区", unit_kind="district")
    run = [assigned_to(again, OWNER), assigned_to(hotline, community), assigned_to(late, OWNER, T0 - timedelta(days=7)),
           assigned_to(first, street, T0 + timedelta(minutes=1), [district]),
           assigned_to(second, OWNER, T0 + timedelta(minutes=2), [district])]

    async def before(pool):
        await pool.execute("INSERT INTO unit_name VALUES ('unit', 'community-1', '旧社区名', $1),"
                           " ('unit', 'street-1', '新街道名', $2)", T0 - timedelta(days=1), T0 + timedelta(days=1))
        await feed(processor, ev.IncidentReceived(incident_id=hotline, at=T0, source="hotline",
                                                  category="city.garbage", urgency="normal", title="垃圾",
                                                  reported_at=T0, nature="complaint", hotline_order_no="GD-9"))
        await feed(processor, assigned(again, T0 - timedelta(hours=1)))

    async def read(pool):
        tables = {"supervised_case": "incident_id", "assignment_fact": "id", "phase_clock": "id",
                  "clock_alert": "id", "unit_name": "kind, key"}
        rows = {}
        for table, order in tables.items():
            rows[table] = [{k: v for k, v in r.items() if k not in ("updated_at", "created_at", "alert_id",
                                                                      "correlation_id", "causation_id")}
                           for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY {order}")]
        return rows

    async def reset(pool):
        await pool.execute("TRUNCATE supervised_case, assignment_fact, phase_clock, clock_alert, unit_name"
                           " RESTART IDENTITY CASCADE")
        await before(pool)

    await before(pool)
    one_by_one, as_a_run, calls = await one_by_one_then_as_a_run(bus, pool, run, read, reset)
    assert calls == [5]
    assert as_a_run == one_by_one
    clocks_of = {c["incident_id"]: [] for c in as_a_run["phase_clock"]}
    for c in as_a_run["phase_clock"]:
        clocks_of[c["incident_id"]].append((c["cycle"], c["light"], c["stopped_at"] is None))
    assert clocks_of[again] == [(1, "green", False), (2, "green", True)]
    assert clocks_of[late] == [(1, "red", True)] and len(as_a_run["clock_alert"]) == 1
    names = {(n["kind"], n["key"]): (n["name"], n["seen_at"]) for n in as_a_run["unit_name"]}
    assert names[("unit", "community-1")] == ("一社区", T0)
    assert names[("unit", "street-1")] == ("新街道名", T0 + timedelta(days=1))
    assert names[("district", "320508")] == ("姑苏区", T0 + timedelta(minutes=1))
