"""What the command centre must act on reaches it (issue 14, DOMAIN §4–§5): the case left in its queue, the
second return, 延期 and 挂起 requests, an emergency, 催办 — each on the live stream under its own name and to the
subscribers of that name in the case's area, once. And the unit that asked for 挂起 hears the answer; the unit
12345 gives an order back to hears it is back."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from services.notifications.domain.contacts import Person, UnitContact
from services.notifications.domain.subscriptions import Subscription
from shared.events.intake import (
    ExtensionRequested,
    IncidentRestored,
    IncidentUrged,
    SuspensionDecided,
    SuspensionRequested,
)
from shared.events.routing import IncidentAssigned, IncidentUnroutable
from tests.support import FixedClock, handle
from tests.unit.notifications.fakes import NotificationsStore, fake_bus
from tests.unit.notifications.test_handlers import (
    COMMUNITY,
    COMMUNITY_OWNER,
    GRID,
    NOW,
    POLICY,
    WORKER,
    directory,
    owned,
)

DISTRICT = GRID[:6]


@pytest.fixture
def store() -> NotificationsStore:
    return NotificationsStore(FixedClock(NOW))


@pytest.fixture
def bus(store):
    return fake_bus(store, policy=POLICY)


async def subscribe(store, sub_id: str, *types: str, area: str = DISTRICT, phone: str = "13900000500") -> None:
    await store.subscriptions.put(Subscription(
        id=sub_id, name="区指挥中心", role="supervisor", area=(area,), event_types=types,
        channels=("sms", "webhook"), phone=phone, webhook_url="http://centre.example/hook"))


def unroutable(queue: str = "unplaced", urgency: str = "normal", case: uuid.UUID | None = None
               ) -> IncidentUnroutable:
    return IncidentUnroutable(incident_id=case or uuid.uuid4(), at=NOW, category="city.garbage", urgency=urgency,
                              district_code=DISTRICT, reason="no unit covers the place", queue=queue)


async def test_a_case_left_in_the_centres_queue_is_an_alert_to_its_districts_subscribers_once(store, bus):
    await subscribe(store, "queue", "centre.unroutable")
    await subscribe(store, "elsewhere", "centre.unroutable", area="310101", phone="13900000501")
    event = unroutable()
    envelope = await handle(bus, event)
    await handle(bus, event, envelope)  # redelivered: nothing more
    told = {(d.recipient, d.channel): d for d in store.deliveries.where(incident_id=event.incident_id)}
    assert set(told) == {("subscription:queue", "sms"), ("subscription:queue", "webhook")}
    assert told["subscription:queue", "sms"].body.startswith(f"【网格督办】待派遣：案件{str(event.incident_id)[:8]}")
    hook = json.loads(told["subscription:queue", "webhook"].body)
    assert (hook["alert"], hook["type"]) == ("centre.unroutable", IncidentUnroutable.type)
    [alert] = store.alerts.rows.values()
    assert (alert.event_type, alert.grid_code) == ("centre.unroutable", DISTRICT)


async def test_the_second_return_is_its_own_alert(store, bus):
    """DOMAIN §4: after two returns the centre's dispatch is final (终审)."""
    await subscribe(store, "final", "centre.second_return")
    await subscribe(store, "queue", "centre.unroutable", phone="13900000502")
    event = unroutable(queue="final_dispatch")
    await handle(bus, event)
    assert {d.recipient for d in store.deliveries.where(incident_id=event.incident_id)} == {"subscription:final"}
    assert [a.event_type for a in store.alerts.rows.values()] == ["centre.second_return"]


async def test_an_emergency_is_an_alert_whether_it_was_routed_or_not(store, bus):
    await subscribe(store, "emergencies", "centre.emergency_reported")
    routed = IncidentAssigned(incident_id=uuid.uuid4(), at=NOW, category="emergency.event", urgency="emergency",
                              grid_code=GRID, owner=WORKER, reason="located")
    await handle(bus, routed)
    lost = unroutable(urgency="emergency")
    await handle(bus, lost)
    for case in (routed.incident_id, lost.incident_id):
        [sms] = [d for d in store.deliveries.where(incident_id=case) if d.recipient == "subscription:emergencies"
                 and d.channel == "sms"]
        assert sms.urgent  # at once, night or not
    kinds = {a.incident_id: a.event_type for a in store.alerts.rows.values()}
    assert kinds == {routed.incident_id: "centre.emergency_reported", lost.incident_id: "centre.unroutable"}


async def test_extension_and_suspension_requests_wait_for_the_centre_in_the_cases_area(store, bus):
    await subscribe(store, "desk", "centre.extension_requested", "centre.suspension_requested")
    case = await owned(store, WORKER)
    await handle(bus, ExtensionRequested(incident_id=case, at=NOW, amount=2, unit="working_days", reason="需协调"))
    await handle(bus, SuspensionRequested(incident_id=case, at=NOW, reason="待法院判决",
                                          until=NOW + timedelta(days=5), unit_id=WORKER.unit_id))
    texts = [d.body for d in store.deliveries.where(incident_id=case) if d.channel == "sms"]
    assert any("延期申请待审批" in t and "需协调" in t for t in texts)
    assert any("挂起申请待审批" in t and "待法院判决" in t for t in texts)
    assert sorted(a.event_type for a in store.alerts.rows.values()) == [
        "centre.extension_requested", "centre.suspension_requested"]
    assert {a.grid_code for a in store.alerts.rows.values()} == {GRID}


async def test_an_urge_reaches_the_subscribers_of_either_name_once(store, bus):
    await subscribe(store, "both", IncidentUrged.type, "centre.urged")
    case = await owned(store, WORKER)
    await handle(bus, IncidentUrged(incident_id=case, at=NOW, actor="12345", note="再次来电"))
    assert sorted((d.recipient, d.channel) for d in store.deliveries.where(incident_id=case)) == [
        ("subscription:both", "sms"), ("subscription:both", "webhook"), ("worker:w1", "sms")]


async def test_the_unit_that_asked_for_a_suspension_hears_the_answer(store, bus):
    await directory(store, UnitContact(COMMUNITY, "平江社区", liaison=Person("联络员", "13900000012")))
    case = await owned(store, COMMUNITY_OWNER)
    await handle(bus, SuspensionDecided(incident_id=case, at=NOW, actor="sup", approved=True, reason="待法院判决",
                                        until=NOW + timedelta(days=3), requested_by="liaison", note="同意"))
    [told] = store.deliveries.where(incident_id=case)
    assert told.recipient == f"contact:{COMMUNITY}:liaison"
    assert "挂起申请已批准" in told.body and "挂起至" in told.body


async def test_the_unit_12345_gives_an_order_back_to_is_told(store, bus):
    case = await owned(store, WORKER)
    await handle(bus, IncidentRestored(incident_id=case, at=NOW, actor="12345", unit_id=WORKER.unit_id,
                                       note="属地管理"))
    [told] = store.deliveries.where(incident_id=case)
    assert told.recipient == "worker:w1" and "12345不同意退单" in told.body and "属地管理" in told.body
    nobody = uuid.uuid4()
    await handle(bus, IncidentRestored(incident_id=nobody, at=NOW, actor="12345", unit_id=None))
    assert store.deliveries.where(incident_id=nobody) == []
