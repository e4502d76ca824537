"""Owners hear of their new case from routing's assignment, without a subscription (DESIGN §6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.domain.commands import PutContact, PutSubscription
from services.notifications.domain.contacts import Person, UnitContact
from services.notifications.domain.delivery import DeliveryPolicy, QuietHours
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from tests.integration.notifications_bus import bus, units_of_work
from tests.support import SERVICE_DIRS, FixedClock, handle, one_by_one_then_as_a_run

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: no quiet hours
GRID = "320508019044001"
WORKER = Owner(unit_id="grid-1", unit_name="梅花社区第1网格", unit_kind="grid", worker_id="w1", worker_name="张伟",
               worker_phone="13900000001")
COMMUNITY = Owner(unit_id="community-320508019044", unit_name="梅花社区", unit_kind="community")


@pytest.fixture
async def world(fresh_database):
    dsn = await fresh_database("notice")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    yield pool, bus(units_of_work(pool, FixedClock(NOW)))
    await pool.close()


async def apply(notifications, event, envelope: Envelope | None = None) -> Envelope:
    return await handle(notifications, event, envelope)


def assigned(owner: Owner, urgency: str = "urgent", reassigned: bool = False, case: uuid.UUID | None = None):
    kind = IncidentReassigned if reassigned else IncidentAssigned
    return kind(incident_id=case or uuid.uuid4(), at=NOW, category="dispute.neighbour", urgency=urgency,
                grid_code=GRID, owner=owner, reason="rule")


async def deliveries(pool):
    return [dict(r) for r in await pool.fetch(
        "SELECT recipient, address, body, urgent, status FROM delivery WHERE channel = 'sms' ORDER BY seq")]


async def test_the_grid_worker_hears_of_a_new_case_once_even_when_the_event_comes_again(world):
    pool, notifications = world
    event = assigned(WORKER)
    envelope = await apply(notifications, event)
    await apply(notifications, event, envelope)  # the same event redelivered past the inbox (a replay): still one
    [notice] = await deliveries(pool)
    assert (notice["recipient"], notice["address"], notice["urgent"]) == ("worker:w1", "13900000001", True)
    case = str(event.incident_id)[:8]
    assert notice["body"] == f"【网格督办】新案件{case}（邻里纠纷，紧急）已派至梅花社区第1网格，请及时签收。"


async def test_a_normal_case_may_wait_a_bundling_window_and_a_unit_hears_through_its_desk(world):
    pool, notifications = world
    await apply(notifications, assigned(WORKER, urgency="normal"))
    assert [d["urgent"] for d in await deliveries(pool)] == [False]  # bundled with others within the window

    await notifications.handle(PutContact("320508019044", "梅花社区", liaison=Person("社区联络员", "13900000002"),
                                caller_area=("",)))
    moved = assigned(COMMUNITY, reassigned=True)
    await apply(notifications, moved)
    assert (await deliveries(pool))[-1]["address"] == "13900000002"


async def test_a_unit_without_a_contact_gets_no_sms_and_nothing_fails(world):
    pool, notifications = world
    await apply(notifications, assigned(Owner(unit_id="dept-x", unit_name="区水务局", unit_kind="department")))
    assert await deliveries(pool) == []


async def test_at_night_a_normal_notice_waits_for_morning_and_an_urgent_one_goes_at_once(fresh_database):
    dsn = await fresh_database("night")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    night = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    try:
        nights = DeliveryPolicy(quiet_hours=QuietHours("22:00", "07:00"))
        notifications = bus(units_of_work(pool, FixedClock(night)), nights)

        await apply(notifications, assigned(WORKER, urgency="normal"))
        await apply(notifications, assigned(WORKER, urgency="emergency"))
        rows = await pool.fetch("SELECT urgent, next_attempt_at FROM delivery ORDER BY seq")
        morning = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 next day in Shanghai
        assert [(r["urgent"], r["next_attempt_at"]) for r in rows] == [(False, morning), (True, night)]
    finally:
        await pool.close()


async def test_on_reassignment_the_previous_worker_and_the_co_owners_are_told_once_each(world):
    """DOMAIN.md §4: 改派 tells the owner the case was taken from (sms.reassigned_away), 协办 units hear at their
    desks (sms.co_assigned) and the case goes on the alert stream; one delivery per (event, recipient,
    channel), a replay included."""
    pool, notifications = world
    for code, name, phone in (("320508019", "平江街道", "13900000019"), ("320508019044", "梅花社区", "13900000002")):
        await notifications.handle(PutContact(code, name, liaison=Person("联络员", phone), caller_area=("",)))
    case = uuid.uuid4()
    await apply(notifications, assigned(WORKER, case=case))
    street = Owner(unit_id="street-320508019", unit_name="平江街道", unit_kind="street")
    moved = IncidentReassigned(incident_id=case, at=NOW, category="dispute.neighbour", urgency="urgent",
                               grid_code=GRID, owner=street, co_owners=[COMMUNITY], previous_unit_id="grid-1",
                               reason="退单改派")
    envelope = await apply(notifications, moved)
    await apply(notifications, moved, envelope)
    rows = await pool.fetch("SELECT recipient, body FROM delivery WHERE event_id = $1 ORDER BY seq", envelope.id)
    ref = str(case)[:8]
    assert [(r["recipient"], r["body"]) for r in rows] == [
        ("contact:320508019:liaison", f"【网格督办】新案件{ref}（邻里纠纷，紧急）已派至平江街道，请及时签收。"),
        ("contact:320508019044:liaison", f"【网格督办】案件{ref}（邻里纠纷，紧急）由平江街道主办，请你单位协办配合。"),
        ("worker:w1", f"【网格督办】案件{ref}（邻里纠纷）已改派至平江街道，你方不再办理，请停止处置并做好交接。")]
    alert = await pool.fetchrow("SELECT grid_code, payload FROM alert WHERE event_id = $1", envelope.id)
    assert alert["grid_code"] == GRID and alert["payload"]["co_owners"][0]["unit_id"] == COMMUNITY.unit_id
    assert (await pool.fetchrow("SELECT unit_id FROM case_owner WHERE incident_id = $1", case))["unit_id"] == \
        "street-320508019"


async def test_a_city_contact_and_the_new_templates_are_in_the_directory_and_seeded(world):
    """Contacts keyed by the city's 4-digit code are stored like any unit's; the new texts are seeded."""
    pool, notifications = world
    await notifications.handle(PutContact("3205", "苏州市", leader=Person("分管副市长", "13900000105"),
                                          caller_area=("",)))
    async with notifications.uow() as uow:
        found = await uow.contacts.for_units(["3205"])
    assert found == {"3205": UnitContact("3205", "苏州市", leader=Person("分管副市长", "13900000105"))}
    seeded = {r["name"] for r in await pool.fetch("SELECT name FROM template")}
    assert {"sms.reassigned_away", "sms.co_assigned", "sms.urged"} <= seeded


async def test_a_run_of_assignments_told_at_once_leaves_what_one_by_one_does(world):
    """The consumer hands a run of assignments to on_assigned_many (the owners, the desks and the deliveries each
    in one statement): every owner row, live alert and delivery is what telling them one by one leaves, each
    case's deliveries in the same order. The runs mix a grid worker twice, a unit's desk, an emergency with the
    district as co-owner (the centre's alert), a unit nobody can be reached at, and 改派 telling the former owner."""
    pool, notifications = world
    await notifications.handle(PutContact("320508019044", "梅花社区", liaison=Person("社区联络员", "13900000002"),
                                          caller_area=("",)))
    await notifications.handle(PutContact("320508", "姑苏区", liaison=Person("区联络员", "13900000003"),
                                          caller_area=("",)))
    # The district's duty officer follows the centre's emergencies by SMS at the grid worker's phone: one phone that
    # hears of the run's cases from both sides, in one order.
    await notifications.handle(PutSubscription(
        sub_id="duty", name="值班员", role="supervisor", area=("320508",), event_types=("centre.emergency_reported",),
        channels=("sms",), phone=WORKER.worker_phone, caller_area=("",)))
    district = Owner(unit_id="district-320508", unit_name="姑苏区", unit_kind="district")
    cases = [uuid.uuid4() for _ in range(5)]
    first = [assigned(WORKER, "normal", case=cases[0]), assigned(COMMUNITY, case=cases[1]),
             assigned(COMMUNITY, "emergency", case=cases[2]).model_copy(update={"co_owners": [district]}),
             assigned(Owner(unit_id="dept-x", unit_name="区水务局", unit_kind="department"), case=cases[3]),
             assigned(WORKER, "normal", case=cases[4])]
    moved = [assigned(COMMUNITY, reassigned=True, case=cases[0]), assigned(WORKER, reassigned=True, case=cases[1])]

    async def read(pool):
        told = await pool.fetch("SELECT incident_id, event_type, channel, recipient, address, body, urgent, status,"
                                " next_attempt_at FROM delivery ORDER BY seq")
        alerts = await pool.fetch("SELECT event_type, incident_id, grid_code, payload FROM alert ORDER BY id")
        owners = await pool.fetch("SELECT incident_id, unit_id, unit_name, unit_kind, worker_id, worker_name,"
                                  " worker_phone, grid_code, category, urgency FROM case_owner ORDER BY incident_id")
        return ([tuple(r) for r in told], [tuple(r) for r in alerts], [tuple(r) for r in owners])

    async def reset(pool):
        await pool.execute("TRUNCATE delivery, alert, case_owner")

    one_by_one, as_a_run, calls = await one_by_one_then_as_a_run(notifications, pool, first + moved, read, reset)
    assert calls == [5, 2]
    assert as_a_run == one_by_one
    told, alerts, owners = as_a_run
    # Each case's new owner, and on 改派 the new owner and the one it left; the emergency's co-owner and the duty
    # officer; dept-x: nobody.
    assert [sum(1 for t in told if t[0] == case) for case in cases] == [3, 3, 3, 0, 1]
    assert [t[3] for t in told][:4] == ["worker:w1", "contact:320508019044:liaison", "subscription:duty",
                                        "contact:320508019044:liaison"]
    assert [a[0] for a in alerts] == ["centre.emergency_reported"] and len(owners) == 5
