"""Subscriptions on a real database: validation over HTTP, and 督办 fanning out to the right people."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.events.envelope import Envelope
from shared.events.intake import IncidentUrged
from shared.events.routing import IncidentAssigned, Owner
from shared.events.supervision import EscalationRaised
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
DISTRICT_SUP = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', ['320508'])}"}
LEADER = {"name": "区委副书记", "phone": "13900000100", "role": "leader", "area": ["320508"],
          "event_types": ["supervision.escalation.raised"], "levels": ["leader"], "channels": ["sms", "sse"]}
STREET_HEAD = {"name": "街道综治主任", "phone": "13900000200", "role": "supervisor", "area": ["320508019"],
               "event_types": ["supervision.escalation.raised"], "levels": ["red_card", "leader"],
               "channels": ["sms"], "quiet_hours": None}
OTHER_DISTRICT = {**LEADER, "name": "另一区领导", "phone": "13900000300", "area": ["310101"]}


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("subs")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    app = create_app(NotificationsSettings(database_url=dsn))
    async with serving(app) as client:
        yield client


async def raise_level(client, level: str, urgency: str = "normal") -> None:
    container = client.app.state.container
    now = datetime.now(UTC)
    event = EscalationRaised(incident_id=uuid.uuid4(), at=now, phase="handle", due_at=now - timedelta(days=1),
                             due_version=1, category="city.ads", urgency=urgency, grid_code="320508019044001",
                             unit_id="grid-1", level=level, previous_level="none")
    await handle(container.bus, event, Envelope.wrap(event, source="/supervision", time=now))


async def test_subscriptions_are_validated_and_scoped(notifications):
    assert (await notifications.put("/v1/subscriptions/leader-1", json=LEADER, headers=ADMIN)).status_code == 200
    for bad in ({**LEADER, "phone": "12345"}, {**LEADER, "email": "not-an-email", "channels": ["email"]},
                {**LEADER, "webhook_url": "ftp://x", "channels": ["webhook"]}, {**LEADER, "channels": ["fax"]},
                {**LEADER, "event_types": ["no.such.event"]}, {**LEADER, "phone": None},
                {**LEADER, "area": ["32a"]}, {**LEADER, "quiet_hours": {"from": "25:00", "to": "07:00"}}):
        response = await notifications.put("/v1/subscriptions/bad", json=bad, headers=ADMIN)
        assert response.status_code == 422, bad
    outside = await notifications.put("/v1/subscriptions/x", json=OTHER_DISTRICT, headers=DISTRICT_SUP)
    assert outside.status_code == 403
    assert [s["id"] for s in (await notifications.get("/v1/subscriptions", headers=ADMIN)).json()] == ["leader-1"]
    assert (await notifications.delete("/v1/subscriptions/leader-1", headers=ADMIN)).status_code == 204
    assert (await notifications.get("/v1/subscriptions/leader-1", headers=ADMIN)).status_code == 404


async def test_escalations_reach_subscribers_of_the_area_and_level_with_quiet_hours(notifications):
    for sub_id, body in (("leader", LEADER), ("street", STREET_HEAD), ("other", OTHER_DISTRICT)):
        await notifications.put(f"/v1/subscriptions/{sub_id}", json=body, headers=ADMIN)
    await raise_level(notifications, "reminder")          # nobody subscribed to reminders
    await raise_level(notifications, "yellow_card")
    deliveries = (await notifications.get("/v1/deliveries", headers=ADMIN)).json()
    assert deliveries == []
    await raise_level(notifications, "leader")             # leader and street head; red levels skip quiet hours
    deliveries = (await notifications.get("/v1/deliveries", headers=ADMIN)).json()
    assert sorted(d["recipient"] for d in deliveries) == ["subscription:leader", "subscription:street"]
    assert all("领导督办" in d["body"] for d in deliveries)
    pool = notifications.app.state.container.pool
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    window = {"from": (local - timedelta(hours=1)).strftime("%H:%M"),
              "to": (local + timedelta(hours=1)).strftime("%H:%M")}  # a quiet window around now
    await notifications.put("/v1/subscriptions/street", headers=ADMIN,
                            json={**STREET_HEAD, "levels": ["reminder", "yellow_card"], "quiet_hours": window})
    await raise_level(notifications, "reminder")           # not urgent: held by the street head's quiet hours
    held = await pool.fetchval("SELECT next_attempt_at - now() FROM delivery WHERE body LIKE '%催办%'")
    assert held > timedelta(minutes=1)
    # 黄牌督办 fires at the red light: quiet hours never hold it (DOMAIN §5, DESIGN §6)
    await raise_level(notifications, "yellow_card")
    urgent, wait = await pool.fetchrow(
        "SELECT urgent, next_attempt_at - now() FROM delivery WHERE body LIKE '%黄牌督办%'")
    assert urgent and wait <= timedelta(0)


async def test_the_stores_subscriber_query_says_what_the_model_says(fresh_database):
    """`subscribers_for` repeats `Subscription.hears_of` in SQL (for speed): the two agree on every case here."""
    from services.notifications.domain.subscriptions import Subscription
    from shared.db.pool import create_pool
    from tests.integration.notifications_bus import units_of_work
    from tests.support import FixedClock

    dsn = await fresh_database("subs_twin")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 2)
    uow = units_of_work(pool, FixedClock(datetime(2026, 11, 23, tzinfo=UTC)))
    escalation, light = "supervision.escalation.raised", "supervision.light.changed"
    given = [(("",), (escalation,)), (("320508",), (escalation, light)), (("320508019", "310101"), (light,)),
             (("3205080190",), (escalation,))]
    subscriptions = [Subscription(id=f"s{n}", name="x", role="supervisor", area=area, event_types=types,
                                  channels=("sms",), phone="13900000100") for n, (area, types) in enumerate(given)]
    try:
        async with uow() as unit:
            for subscription in subscriptions:
                await unit.subscriptions.put(subscription)
            off = subscriptions[1]
            off.disable(datetime(2026, 11, 23, tzinfo=UTC), "gone")
            await unit.subscriptions.save_disabled(off)
            await unit.commit()
        for event_type in (escalation, light):
            for grid in (None, "320508019044001", "310101001001001", "320508020044001", "3205080190"):
                async with uow() as unit:
                    found = [s.id for s in await unit.subscriptions.for_event(event_type, grid)]
                assert found == [s.id for s in subscriptions if s.hears_of(event_type, grid)], (event_type, grid)
    finally:
        await pool.close()


async def test_an_urge_reaches_the_handler_the_areas_subscribers_and_the_live_stream(notifications):
    """DOMAIN.md §7 催办: 12345's urge goes by SMS to the case's handler, to subscribers of
    `intake.incident.urged` whose area covers the case (by the grid routing gave it), and on the alert stream."""
    desk = {"name": "12345专班", "phone": "13900000500", "role": "supervisor", "area": ["320508"],
            "event_types": ["intake.incident.urged"], "channels": ["sms", "sse"]}
    assert (await notifications.put("/v1/subscriptions/urge-desk", json=desk, headers=ADMIN)).status_code == 200
    await notifications.put("/v1/subscriptions/urge-other", json={**desk, "area": ["310101"]}, headers=ADMIN)
    container = notifications.app.state.container
    case, now = uuid.uuid4(), datetime.now(UTC)
    worker = Owner(unit_id="grid-1", unit_name="网格1", unit_kind="grid", worker_id="w1", worker_name="张伟",
                   worker_phone="13900000001")
    await handle(container.bus, IncidentAssigned(incident_id=case, at=now, category="env.noise", urgency="normal",
                                                 grid_code="320508019044001", owner=worker, reason="rule"))
    urge = IncidentUrged(incident_id=case, at=now, actor="hotline", note="市民第三次来电")
    envelope = await handle(container.bus, urge)
    rows = (await notifications.get("/v1/deliveries", params={"incident_id": str(case)}, headers=ADMIN)).json()
    urged = {d["recipient"]: d["body"] for d in rows if d["event_type"] == IncidentUrged.type}
    assert set(urged) == {"worker:w1", "subscription:urge-desk"}
    assert urged["worker:w1"].startswith(f"【网格督办】催办：案件{str(case)[:8]}（噪声扰民）")
    alert = await container.pool.fetchrow("SELECT grid_code, payload FROM alert WHERE event_id = $1", envelope.id)
    assert (alert["grid_code"], alert["payload"]["note"]) == ("320508019044001", "市民第三次来电")


async def test_subscriptions_and_the_delivery_log_are_scoped_to_the_callers_area(notifications):
    """Issue 15: a supervisor of another district neither lists, reads, overwrites nor deletes a district's
    subscription, and reads only the deliveries of cases placed in its own area."""
    other_sup = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup9', 'supervisor', ['310101'])}"}
    worker = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'w1', 'gridworker', [''])}"}
    assert (await notifications.put("/v1/subscriptions/leader-1", json=LEADER, headers=DISTRICT_SUP)).status_code \
        == 200
    assert (await notifications.get("/v1/subscriptions", headers=other_sup)).json() == []
    assert (await notifications.get("/v1/subscriptions/leader-1", headers=other_sup)).status_code == 404
    taken = await notifications.put("/v1/subscriptions/leader-1", json=OTHER_DISTRICT, headers=other_sup)
    assert taken.status_code == 403
    assert (await notifications.delete("/v1/subscriptions/leader-1", headers=other_sup)).status_code == 403
    [kept] = (await notifications.get("/v1/subscriptions", headers=DISTRICT_SUP)).json()
    assert kept["area"] == ["320508"]

    container = notifications.app.state.container
    owner = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1", worker_phone="13900000001")
    await handle(container.bus, IncidentAssigned(incident_id=uuid.uuid4(), at=datetime.now(UTC),
                                                 category="city.ads", urgency="urgent",
                                                 grid_code="320508019044001", owner=owner, reason="located"))
    assert len((await notifications.get("/v1/deliveries", headers=DISTRICT_SUP)).json()) == 1
    assert (await notifications.get("/v1/deliveries", headers=other_sup)).json() == []
    assert (await notifications.get("/v1/deliveries", headers=worker)).status_code == 403
