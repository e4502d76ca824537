"""Notifications' handlers through the bus, over in-memory repositories and fake channels: who hears what,
what the deliverer does with each answer, and the commands' refusals."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.bootstrap import message_bus
from services.notifications.domain.cases import CaseOwner, HotlineCase
from services.notifications.domain.commands import (
    DeleteContact,
    DeleteSubscription,
    DeliverDue,
    EditTemplate,
    PutContact,
    PutSubscription,
)
from services.notifications.domain.contacts import Person, UnitContact
from services.notifications.domain.delivery import Delivery, DeliveryPolicy, QuietHours
from services.notifications.domain.errors import (
    OutsideArea,
    TemplateInvalid,
    UnknownContact,
    UnknownSubscription,
    UnknownTemplate,
)
from services.notifications.domain.subscriptions import Subscription
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived, IncidentSigned
from shared.events.notifications import DeliveryFailed, DeliverySucceeded
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from shared.events.supervision import EscalationRaised, LightChanged
from tests.support import FixedClock, handle
from tests.unit.notifications.fakes import (
    FakeChannel,
    FakeNotificationsUnitOfWork,
    NotificationsStore,
    channels,
    fake_bus,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: no quiet hours
GRID = "320508019044007"
COMMUNITY = "320508019044"
WORKER = Owner(unit_id="grid-7", unit_name="第7网格", unit_kind="grid", worker_id="w1", worker_name="张伟",
               worker_phone="13900000001")
COMMUNITY_OWNER = Owner(unit_id=f"community-{COMMUNITY}", unit_name="平江社区", unit_kind="community")
ESCALATION = "supervision.escalation.raised"
POLICY = DeliveryPolicy(max_segments=3, bundle_seconds=60, quiet_hours=QuietHours("22:00", "07:00"),
                        max_attempts=3, backoff_base=0.0)


@pytest.fixture
def store() -> NotificationsStore:
    return NotificationsStore(FixedClock(NOW))


@pytest.fixture
def bus(store):
    return fake_bus(store, policy=POLICY)


def assigned(owner: Owner = WORKER, urgency: str = "urgent", case: uuid.UUID | None = None,
             kind: type[IncidentAssigned] | type[IncidentReassigned] = IncidentAssigned):
    return kind(incident_id=case or uuid.uuid4(), at=NOW, category="dispute.neighbour", urgency=urgency,
                grid_code=GRID, owner=owner, reason="rule")


def light(case: uuid.UUID, colour: str, urgency: str = "normal") -> LightChanged:
    return LightChanged(incident_id=case, at=NOW, phase="sign", due_at=NOW, due_version=1, category="city.ads",
                        urgency=urgency, grid_code=GRID, unit_id=None, light=colour, previous_light="green")


def escalation(case: uuid.UUID, level: str, urgency: str = "normal") -> EscalationRaised:
    return EscalationRaised(incident_id=case, at=NOW, phase="handle", due_at=NOW, due_version=1,
                            category="safety.fire", urgency=urgency, grid_code=GRID,
                            unit_id=f"community-{COMMUNITY}", level=level, previous_level="none")


def received(case: uuid.UUID, order_no: str | None = "GD-0007") -> IncidentReceived:
    return IncidentReceived(incident_id=case, at=NOW, source="hotline", category="dispute.neighbour",
                            urgency="normal", title="邻居装修噪声", reported_at=NOW, hotline_order_no=order_no)


def people(*people_: tuple[str, str, str]) -> list[UnitContact]:
    return [UnitContact(code, code, **{role: Person(role, phone)}) for code, role, phone in people_]


async def directory(store: NotificationsStore, *contacts: UnitContact) -> None:
    for contact in contacts:
        await store.contacts.put(contact)


async def owned(store: NotificationsStore, owner: Owner) -> uuid.UUID:
    """A case routing assigned earlier (its notice is not what these tests are about)."""
    case = uuid.uuid4()
    await store.owners.put(CaseOwner(incident_id=case, unit_id=owner.unit_id, unit_name=owner.unit_name,
                                     unit_kind=owner.unit_kind, category="city.ads", urgency="normal", grid_code=GRID,
                                     worker_id=owner.worker_id, worker_name=owner.worker_name,
                                     worker_phone=owner.worker_phone))
    return case


# ---- who hears what -----------------------------------------------------------------------------------------

async def test_the_grid_worker_hears_of_a_new_urgent_case_at_once_and_once(store, bus):
    event = assigned()
    envelope = await handle(bus, event)
    await handle(bus, event, envelope)  # the same event again (a replay past the inbox)
    [notice] = store.deliveries.rows
    assert (notice.channel, notice.recipient, notice.address, notice.urgent) == ("sms", "worker:w1",
                                                                                 "13900000001", True)
    assert notice.next_attempt_at == NOW and store.deliveries.wakes == 1
    case = str(event.incident_id)[:8]
    assert notice.body == f"【网格督办】新案件{case}（dispute.neighbour，紧急）已派至第7网格，请及时签收。"
    assert (await store.owners.get(event.incident_id)).worker_phone == "13900000001"


async def test_a_unit_hears_of_its_normal_case_through_its_desk_after_a_bundling_window(store, bus):
    await directory(store, UnitContact(COMMUNITY, "平江社区", liaison=Person("联络员", "13900000012"),
                                       leader=Person("书记", "13900000112")))
    await handle(bus, assigned(COMMUNITY_OWNER, urgency="normal", kind=IncidentReassigned))
    [notice] = store.deliveries.rows
    assert (notice.recipient, notice.address, notice.urgent) == (f"contact:{COMMUNITY}:liaison", "13900000012", False)
    assert notice.next_attempt_at == NOW + timedelta(seconds=60)


async def test_a_unit_without_a_contact_hears_nothing_and_nothing_fails(store, bus):
    await handle(bus, assigned(Owner(unit_id="dept-x", unit_name="区水务局", unit_kind="department")))
    assert store.deliveries.rows == []


async def test_a_yellow_light_goes_by_sms_a_red_one_at_once_and_green_only_on_the_stream(store, bus):
    yellow_case, red_case, green_case = [await owned(store, WORKER) for _ in range(3)]
    for event in (light(yellow_case, "yellow"), light(red_case, "red"), light(green_case, "green")):
        await handle(bus, event)
    yellow, red = store.deliveries.rows
    assert (yellow.incident_id, yellow.urgent, yellow.next_attempt_at) == (yellow_case, False,
                                                                           NOW + timedelta(seconds=60))
    assert "黄灯" in yellow.body and yellow.summary == f"案件{str(yellow_case)[:8]}签收黄灯"
    assert (red.incident_id, red.urgent, red.next_attempt_at) == (red_case, True, NOW)
    assert len(store.alerts.rows) == 3  # every light change on the live stream, green too
    assert {a.incident_id for a in store.alerts.rows.values()} == {yellow_case, red_case, green_case}


async def test_escalation_reaches_contacts_and_subscribers_by_level(store, bus):
    await directory(store, *people((COMMUNITY, "leader", "13900000112"), ("320508019", "supervisor", "13900000209"),
                                   ("320508", "leader", "13900000106")))
    await store.subscriptions.put(Subscription(
        id="leader", name="区领导", role="leader", area=("320508",), event_types=(ESCALATION,), channels=("sms",),
        levels=("leader",), phone="13900000100"))
    await store.subscriptions.put(Subscription(
        id="board", name="值班系统", role="supervisor", area=("320508019",), event_types=(ESCALATION,),
        channels=("webhook", "sse"), webhook_url="http://hooks.example/board"))
    await store.subscriptions.put(Subscription(
        id="elsewhere", name="另一区", role="leader", area=("310101",), event_types=(ESCALATION,),
        channels=("sms",), phone="13900000300"))
    yellow = await owned(store, COMMUNITY_OWNER)
    leader = await owned(store, COMMUNITY_OWNER)
    await handle(bus, escalation(yellow, "yellow_card"))
    await handle(bus, escalation(leader, "leader"))

    def told(case: uuid.UUID) -> set[tuple[str, str]]:
        return {(d.recipient, d.channel) for d in store.deliveries.where(incident_id=case)}

    assert told(yellow) == {(f"contact:{COMMUNITY}:leader", "sms"), ("subscription:board", "webhook")}
    assert told(leader) == {(f"contact:{COMMUNITY}:leader", "sms"), ("contact:320508019:supervisor", "sms"),
                            ("contact:320508:leader", "sms"), ("subscription:leader", "sms"),
                            ("subscription:board", "webhook")}
    [hook] = store.deliveries.where(incident_id=leader, channel="webhook")
    body = json.loads(hook.body)
    assert (body["subscription"], body["type"], body["data"]["level"]) == ("board", ESCALATION, "leader")
    assert all(d.urgent for d in store.deliveries.where(incident_id=leader))  # leader 督办 goes at once
    assert len(store.alerts.rows) == 2


async def test_12345_callbacks_are_queued_once_each_and_signing_reported_once(store, bus):
    case = uuid.uuid4()
    first = await handle(bus, received(case))
    await handle(bus, received(case), first)  # redelivered: still one `accepted`
    await handle(bus, IncidentSigned(incident_id=case, at=NOW, unit_id="grid-7"))
    await handle(bus, IncidentSigned(incident_id=case, at=NOW + timedelta(hours=1), unit_id="street-1"))  # 重办
    callbacks = store.deliveries.where(recipient="12345:GD-0007")
    assert [json.loads(d.body)["callback"] for d in callbacks] == ["accepted", "signed"]
    assert {(d.channel, d.address, d.urgent) for d in callbacks} == {("webhook", "http://12345.example/cb", True)}
    assert store.hotline_cases.rows[case] == HotlineCase(case, "GD-0007", signed_sent=True)


async def test_a_case_that_is_not_a_12345_order_gets_no_callback(store, bus):
    case = uuid.uuid4()
    await handle(bus, received(case, order_no=None))
    await handle(bus, IncidentSigned(incident_id=case, at=NOW))
    assert store.deliveries.rows == [] and store.hotline_cases.rows == {}


# ---- the deliverer ------------------------------------------------------------------------------------------

async def pending(store: NotificationsStore, channel: str = "sms", recipient: str = "worker:w1",
                  address: str = "13900000001", fallback_email: str | None = None, urgent: bool = True,
                  body: str = "【网格督办】提醒", incident_id: uuid.UUID | None = None) -> Delivery:
    delivery = Delivery(event_id=uuid.uuid4(), event_type="t", incident_id=incident_id or uuid.uuid4(),
                        channel=channel, recipient=recipient, address=address, body=body, urgent=urgent,
                        created_at=NOW, next_attempt_at=NOW, summary="提醒", fallback_email=fallback_email)
    await store.deliveries.add(delivery)
    return delivery


def published(store: NotificationsStore) -> list[str]:
    return [envelope.type for envelope in store.published]


async def test_a_delivery_the_provider_takes_is_sent_and_announced(store):
    await pending(store)
    sms = FakeChannel(201)
    assert await fake_bus(store, sms=sms, policy=POLICY).handle(DeliverDue(batch=10)) == 1
    [row] = store.deliveries.rows
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    assert [d.id for d in sms.sent] == [str(row.id)]  # its id is the idempotency key
    assert published(store) == [DeliverySucceeded.type]
    assert store.sms_recipients.last["13900000001"] == NOW


async def test_a_failed_try_waits_for_its_retry_and_goes_again(store):
    await pending(store)
    sms = FakeChannel(503)
    bus = fake_bus(store, sms=sms, policy=DeliveryPolicy(max_attempts=3, backoff_base=10.0))
    await bus.handle(DeliverDue(batch=10))
    [row] = store.deliveries.rows
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert NOW + timedelta(seconds=5) <= row.next_attempt_at <= NOW + timedelta(seconds=10)
    assert await bus.handle(DeliverDue(batch=10)) == 0  # not yet
    store.clock.advance(seconds=10)
    await bus.handle(DeliverDue(batch=10))
    assert (row.status, row.attempts) == ("sent", 2) and len(sms.sent) == 2
    assert published(store) == [DeliverySucceeded.type]


async def test_an_sms_dead_after_its_last_try_goes_once_by_email_with_its_whole_text(store):
    await pending(store, recipient="contact:320508019044:leader", fallback_email="shuji@example.test",
                  body="【网格督办】红牌督办…")
    store.deliveries.rows[0].full_text = "【网格督办】红牌督办：整段批示"
    sms, email = FakeChannel(then=503), FakeChannel(250)
    bus = fake_bus(store, sms=sms, email=email, policy=POLICY)
    for _ in range(4):
        await bus.handle(DeliverDue(batch=10))
    text, mail = store.deliveries.rows
    assert (text.status, text.attempts, text.last_error) == ("dead", 3, "HTTP 503")
    assert (mail.channel, mail.status, mail.recipient) == ("email", "sent", "contact:320508019044:leader")
    [sent] = email.sent
    assert (sent.address, sent.body) == ("shuji@example.test", "【网格督办】红牌督办：整段批示")
    assert sent.subject == "【网格督办】短信未能送达，改发邮件：提醒"
    assert published(store) == [DeliveryFailed.type, DeliverySucceeded.type]


async def test_a_410_switches_the_subscription_off_and_drops_what_waited_for_it(store):
    await store.subscriptions.put(Subscription(
        id="ops", name="值班系统", role="supervisor", area=("320508",), event_types=(ESCALATION,),
        channels=("webhook",), webhook_url="http://hooks.example/ops"))
    case = uuid.uuid4()
    for _ in range(3):
        await pending(store, "webhook", "subscription:ops", "http://hooks.example/ops", incident_id=uuid.uuid4())
    await pending(store, "webhook", "12345:GD-1", "http://12345.example/cb", incident_id=case)
    webhook = FakeChannel(410, then=200)
    await fake_bus(store, webhook=webhook, policy=POLICY).handle(DeliverDue(batch=10, concurrency=4))
    ops = store.deliveries.where(recipient="subscription:ops")
    assert [d.status for d in ops] == ["dead"] * 3 and sum(d.attempts for d in ops) == 1  # the others untried
    assert ops[0].last_error == "gone: HTTP 410"
    assert all(d.last_error.startswith("subscription disabled") for d in ops[1:])
    assert [d.status for d in store.deliveries.where(recipient="12345:GD-1")] == ["sent"]
    sub = store.subscriptions.rows["ops"]
    assert sub.disabled_at == NOW and "410" in sub.disabled_reason


async def test_a_burst_to_one_phone_goes_as_one_bundle_and_the_next_waits_for_the_window(store):
    for _ in range(3):
        await pending(store, urgent=False)
    sms = FakeChannel()
    bus = fake_bus(store, sms=sms, policy=POLICY)
    await bus.handle(DeliverDue(batch=1))  # the first claims its siblings
    [bundle] = sms.sent
    assert bundle.body.startswith("【网格督办】您有3条提醒：1.提醒；2.提醒；3.提醒")
    assert {d.status for d in store.deliveries.rows} == {"sent"}
    assert {d.bundle_id for d in store.deliveries.rows} == {store.deliveries.rows[0].id}
    late = await pending(store, urgent=False)
    await bus.handle(DeliverDue(batch=10))
    assert len(sms.sent) == 1 and store.deliveries.where(id=late.id)[0].next_attempt_at == NOW + timedelta(
        seconds=60)  # rate-limited: postponed to a window after the bundle


async def test_webhooks_of_a_case_to_one_receiver_go_in_order(store):
    case = uuid.uuid4()
    for body in ("accepted", "signed"):
        await pending(store, "webhook", "12345:GD-1", "http://12345.example/cb", body=body, incident_id=case)
    webhook = FakeChannel(503)
    bus = fake_bus(store, webhook=webhook, policy=POLICY)
    assert await bus.handle(DeliverDue(batch=10)) == 1  # `signed` waits for `accepted`
    await bus.handle(DeliverDue(batch=10))
    await bus.handle(DeliverDue(batch=10))
    assert [d.body for d in webhook.sent] == ["accepted", "accepted", "signed"]


# ---- the directory, subscriptions and templates -------------------------------------------------------------

def put_subscription(area: tuple[str, ...], caller_area: tuple[str, ...]) -> PutSubscription:
    return PutSubscription(sub_id="s1", name="x", role="supervisor", area=area, event_types=(ESCALATION,),
                           channels=("sms",), phone="13900000100", caller_area=caller_area)


async def test_a_subscription_outside_the_callers_area_is_refused_and_not_stored(store, bus):
    with pytest.raises(OutsideArea) as refused:
        await bus.handle(put_subscription(("310101",), ("320508",)))
    assert refused.value.status == 403 and store.subscriptions.rows == {}
    await bus.handle(put_subscription(("320508019",), ("320508",)))
    assert store.subscriptions.rows["s1"].area == ("320508019",)


async def test_putting_a_subscription_again_switches_it_back_on_and_deleting_an_absent_one_is_404(store, bus):
    await bus.handle(put_subscription(("320508",), ("",)))
    store.subscriptions.rows["s1"].disable(NOW, "gone")
    await bus.handle(put_subscription(("320508",), ("",)))
    assert store.subscriptions.rows["s1"].disabled_at is None
    await bus.handle(DeleteSubscription("s1"))
    with pytest.raises(UnknownSubscription) as absent:
        await bus.handle(DeleteSubscription("s1"))
    assert absent.value.status == 404


async def test_contacts_are_kept_inside_the_callers_area(store, bus):
    desk = Person("联络员", "13900000012")
    with pytest.raises(OutsideArea):
        await bus.handle(PutContact(COMMUNITY, "社区", liaison=desk, caller_area=("310101",)))
    with pytest.raises(OutsideArea):  # a department is not a code: city-wide callers only
        await bus.handle(PutContact("dept-water", "水务局", liaison=desk, caller_area=("320508",)))
    assert store.contacts.rows == {}
    await bus.handle(PutContact(COMMUNITY, "社区", liaison=desk, caller_area=("320508",)))
    assert store.contacts.rows[COMMUNITY].liaison == desk
    with pytest.raises(UnknownContact):  # outside one's area is as if absent
        await bus.handle(DeleteContact(COMMUNITY, caller_area=("310101",)))
    await bus.handle(DeleteContact(COMMUNITY, caller_area=("320508",)))
    with pytest.raises(UnknownContact):
        await bus.handle(DeleteContact(COMMUNITY, caller_area=("320508",)))


async def test_an_edited_template_is_checked_stored_and_used_for_the_next_message(store, bus):
    with pytest.raises(UnknownTemplate):
        await bus.handle(EditTemplate("sms.nope", "【x】", by="admin-1"))
    with pytest.raises(TemplateInvalid) as invalid:
        await bus.handle(EditTemplate("sms.assigned", "【网格督办】{owner}", by="admin-1"))
    assert invalid.value.errors == [{"field": "body", "message": invalid.value.detail, "type": "template"}]
    assert store.templates.rows == {}
    stored = await bus.handle(EditTemplate("sms.assigned", "【网格督办】新案件{case}请签收", by="admin-1"))
    assert (stored.updated_by, stored.updated_at) == ("admin-1", NOW)
    event = assigned()
    await handle(bus, event)
    assert store.deliveries.rows[0].body == f"【网格督办】新案件{str(event.incident_id)[:8]}请签收"


async def test_the_deliverer_pass_is_a_command_whose_unit_of_work_commits_once(store):
    await pending(store)
    made: list[FakeNotificationsUnitOfWork] = []

    def unit_of_work() -> FakeNotificationsUnitOfWork:
        made.append(FakeNotificationsUnitOfWork(store))
        return made[-1]

    bus = message_bus(unit_of_work, channels=channels(sms=FakeChannel()), policy=POLICY)
    await bus.handle(DeliverDue(batch=10))
    await bus.handle(DeliverDue(batch=10))
    assert [u.commits for u in made] == [1, 1]
    assert [e.type for e in made[0].published] == [DeliverySucceeded.type] and made[1].published == []
    assert isinstance(made[0].published[0], Envelope)
