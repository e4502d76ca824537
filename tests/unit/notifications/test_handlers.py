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
from shared.events.intake import (
    IncidentClosed,
    IncidentMerged,
    IncidentReceived,
    IncidentReopened,
    IncidentResultSubmitted,
    IncidentSigned,
    IncidentUrged,
)
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
    await store.owners.replace(CaseOwner(incident_id=case, unit_id=owner.unit_id, unit_name=owner.unit_name,
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
    assert notice.body == f"【网格督办】新案件{case}（邻里纠纷，紧急）已派至第7网格，请及时签收。"
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


# ---- 改派, 协办, 督办 at night, 催办 (issue 14) ------------------------------------------------------------------

STREET_OWNER = Owner(unit_id="street-320508019", unit_name="平江街道", unit_kind="street")
NIGHT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: inside the stack's quiet hours


async def test_on_reassignment_the_previous_owner_is_told_once_beside_the_new_one(store, bus):
    """DOMAIN.md §4 改派: the case goes to a new owner; the owner it was taken from (its grid worker) hears
    where it went (sms.reassigned_away), and one delivery per (event, recipient, channel) holds on a replay."""
    await directory(store, UnitContact("320508019", "平江街道", liaison=Person("街道联络员", "13900000019")))
    case = uuid.uuid4()
    await handle(bus, assigned(WORKER, case=case))
    event = IncidentReassigned(incident_id=case, at=NOW, category="dispute.neighbour", urgency="urgent",
                               grid_code=GRID, owner=STREET_OWNER, previous_unit_id=WORKER.unit_id, reason="退单改派")
    envelope = await handle(bus, event)
    await handle(bus, event, envelope)  # replayed past the inbox: nobody hears twice, nobody new hears
    told = {d.recipient: d.body for d in store.deliveries.where(event_id=envelope.id)}
    ref = str(case)[:8]
    assert told == {
        "contact:320508019:liaison": f"【网格督办】新案件{ref}（邻里纠纷，紧急）已派至平江街道，请及时签收。",
        "worker:w1": f"【网格督办】案件{ref}（邻里纠纷）已改派至平江街道，你方不再办理，请停止处置并做好交接。"}
    assert all(d.urgent for d in store.deliveries.where(event_id=envelope.id))  # as urgent as the case


async def test_the_reassigned_away_text_is_editable_like_the_others(store, bus):
    """README "message texts, editable": sms.reassigned_away is a template with the assignment placeholders."""
    await bus.handle(EditTemplate("sms.reassigned_away", "【网格督办】案件{case}已转{unit}办理", by="admin-1"))
    case = await owned(store, WORKER)
    await handle(bus, IncidentReassigned(incident_id=case, at=NOW, category="city.ads", urgency="normal",
                                         grid_code=GRID, owner=STREET_OWNER, previous_unit_id=WORKER.unit_id,
                                         reason="改派"))
    [away] = store.deliveries.where(recipient="worker:w1")
    assert away.body == f"【网格督办】案件{str(case)[:8]}已转平江街道办理" and not away.urgent


async def test_co_owners_hear_at_their_desks_and_the_case_goes_on_the_live_stream(store, bus):
    """DOMAIN.md §4 协办单位: co-owners are told (SMS to their unit's desk) when a case is assigned or reassigned
    with them, and the assignment goes on the supervisors' alert stream (SSE)."""
    water = Owner(unit_id="dept-water", unit_name="区水务局", unit_kind="department")
    await directory(store, UnitContact(COMMUNITY, "平江社区", liaison=Person("联络员", "13900000012")),
                    UnitContact("dept-water", "区水务局", liaison=Person("水务值班", "13900000130")))
    event = IncidentAssigned(incident_id=uuid.uuid4(), at=NOW, category="infra.drainage", urgency="normal",
                             grid_code=GRID, owner=WORKER, co_owners=[water, COMMUNITY_OWNER], reason="rule")
    envelope = await handle(bus, event)
    told = {d.recipient: d for d in store.deliveries.rows}
    assert set(told) == {"worker:w1", "contact:dept-water:liaison", f"contact:{COMMUNITY}:liaison"}
    ref = str(event.incident_id)[:8]
    assert told["contact:dept-water:liaison"].body == (
        f"【网格督办】案件{ref}（积水、排水不畅，一般）由第7网格主办，请你单位协办配合。")
    assert told["contact:dept-water:liaison"].summary == f"协办案件{ref}"
    [alert] = store.alerts.rows.values()
    assert (alert.event_id, alert.grid_code) == (envelope.id, GRID)
    assert [c["unit_id"] for c in alert.payload["co_owners"]] == ["dept-water", f"community-{COMMUNITY}"]
    await handle(bus, assigned(WORKER))  # no co-owners: not on the stream
    assert len(store.alerts.rows) == 1


async def test_a_yellow_card_at_night_goes_at_once_while_a_reminder_waits_for_the_morning(store):
    """DOMAIN.md §5 / DESIGN §6: quiet hours spare emergencies and red lights, and 黄牌督办 fires at the red
    light: yellow card, red card and leader 督办 go at once; a 催办 waits until 07:00."""
    store.clock = FixedClock(NIGHT)
    bus = fake_bus(store, policy=POLICY)
    await directory(store, UnitContact(COMMUNITY, "平江社区", leader=Person("书记", "13900000112")))
    await store.subscriptions.put(Subscription(
        id="centre", name="指挥中心", role="supervisor", area=("320508",), event_types=(ESCALATION,),
        channels=("sms",), phone="13900000200"))
    reminder, yellow = await owned(store, COMMUNITY_OWNER), await owned(store, COMMUNITY_OWNER)
    for case, level in ((reminder, "reminder"), (yellow, "yellow_card")):
        await handle(bus, EscalationRaised(incident_id=case, at=NIGHT, phase="handle", due_at=NIGHT, due_version=1,
                                           category="safety.fire", urgency="normal", grid_code=GRID,
                                           unit_id=f"community-{COMMUNITY}", level=level, previous_level="none"))
    morning = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
    assert {(d.recipient, d.urgent, d.next_attempt_at) for d in store.deliveries.where(incident_id=reminder)} == {
        ("subscription:centre", False, morning)}
    assert {(d.recipient, d.urgent, d.next_attempt_at) for d in store.deliveries.where(incident_id=yellow)} == {
        (f"contact:{COMMUNITY}:leader", True, NIGHT), ("subscription:centre", True, NIGHT)}


async def test_leader_supervision_reaches_the_city_leader_too(store, bus):
    """DOMAIN.md §5 领导督办: "+ `leader` of district or city": the city's leader is the contact keyed by the
    city's code, the first 4 digits of the grid code (3205)."""
    await directory(store, *people(("320508", "leader", "13900000106"), ("3205", "leader", "13900000105")))
    case = await owned(store, COMMUNITY_OWNER)
    await handle(bus, escalation(case, "leader"))
    assert {d.recipient for d in store.deliveries.rows} == {"contact:320508:leader", "contact:3205:leader"}
    red = await owned(store, COMMUNITY_OWNER)
    await handle(bus, escalation(red, "red_card"))
    assert store.deliveries.where(incident_id=red) == []  # a red card reaches neither leader


async def test_putting_a_city_contact_needs_a_city_wide_caller(store, bus):
    """A contact lies within the caller's area by its code: a district's supervisor cannot name the city's
    leader (DESIGN §5 area rules); a city-wide admin can."""
    leader = Person("分管副市长", "13900000105")
    with pytest.raises(OutsideArea):
        await bus.handle(PutContact("3205", "苏州市", leader=leader, caller_area=("320508",)))
    await bus.handle(PutContact("3205", "苏州市", leader=leader, caller_area=("",)))
    assert store.contacts.rows["3205"].leader == leader


def urged(case: uuid.UUID, note: str = "市民再次来电催促") -> IncidentUrged:
    return IncidentUrged(incident_id=case, at=NOW, actor="hotline", note=note)


async def test_an_urge_alerts_the_handler_the_live_stream_and_the_areas_subscribers(store, bus):
    """DOMAIN.md §7 催办 from 12345: SMS to the case's day-to-day handler, an entry on the supervisors' alert
    stream (in the case's area), and whatever subscribers of `intake.incident.urged` in that area take."""
    urged_type = IncidentUrged.type
    await store.subscriptions.put(Subscription(
        id="hotline-desk", name="12345专班", role="supervisor", area=("320508",), event_types=(urged_type,),
        channels=("sms", "webhook"), phone="13900000300", webhook_url="http://hooks.example/urge"))
    await store.subscriptions.put(Subscription(
        id="elsewhere", name="另一区", role="supervisor", area=("310101",), event_types=(urged_type,),
        channels=("sms",), phone="13900000301"))
    case = await owned(store, WORKER)
    envelope = await handle(bus, urged(case))
    await handle(bus, urged(case), envelope)  # once, however often it comes
    told = {(d.recipient, d.channel): d for d in store.deliveries.rows}
    assert set(told) == {("worker:w1", "sms"), ("subscription:hotline-desk", "sms"),
                         ("subscription:hotline-desk", "webhook")}
    text = told["worker:w1", "sms"].body
    assert text == (f"【网格督办】催办：案件{str(case)[:8]}（乱张贴、违规广告）请加快办理并及时反馈。"
                    "催办意见：市民再次来电催促")
    assert json.loads(told["subscription:hotline-desk", "webhook"].body)["type"] == urged_type
    [alert] = store.alerts.rows.values()
    assert (alert.event_type, alert.grid_code, alert.payload["note"]) == (urged_type, GRID, "市民再次来电催促")


async def test_an_urge_of_a_unit_owned_case_reaches_its_desk_and_of_an_unknown_case_only_the_city(store, bus):
    """The handler of a unit-owned case is its desk (liaison, else head); a case notifications has no owner
    for has no place: only city-wide subscribers and callers see its urge."""
    await directory(store, UnitContact(COMMUNITY, "平江社区", liaison=Person("联络员", "13900000012")))
    await store.subscriptions.put(Subscription(
        id="city", name="市12345", role="supervisor", area=("",), event_types=(IncidentUrged.type,),
        channels=("sms",), phone="13900000400"))
    case = await owned(store, COMMUNITY_OWNER)
    await handle(bus, urged(case, note=""))
    assert {d.recipient for d in store.deliveries.where(incident_id=case)} == {
        f"contact:{COMMUNITY}:liaison", "subscription:city"}
    stranger = uuid.uuid4()
    await handle(bus, urged(stranger))
    assert {d.recipient for d in store.deliveries.where(incident_id=stranger)} == {"subscription:city"}
    assert {a.incident_id: a.grid_code for a in store.alerts.rows.values()}[stranger] is None


# ---- merged 12345 orders take their master's result and closing (issue 14) ------------------------------------

def result(case: uuid.UUID, at: datetime = NOW, text: str = "已现场处置") -> IncidentResultSubmitted:
    return IncidentResultSubmitted(incident_id=case, at=at, result=text)


def closed(case: uuid.UUID, at: datetime = NOW) -> IncidentClosed:
    return IncidentClosed(incident_id=case, at=at)


def merged(case: uuid.UUID, into: uuid.UUID) -> IncidentMerged:
    return IncidentMerged(incident_id=case, at=NOW, actor="sup", into=into)


def callbacks(store: NotificationsStore, order_no: str) -> list[tuple[str, str | None]]:
    """The callbacks queued for an order, in queue order: (callback, the master it speaks for)."""
    bodies = [json.loads(d.body) for d in sorted(store.deliveries.where(recipient=f"12345:{order_no}"),
                                                 key=lambda d: d.seq)]
    return [(b["callback"], b["detail"].get("master_incident_id")) for b in bodies]


async def test_a_merged_order_gets_its_masters_result_and_closing_each_once(store, bus):
    """DOMAIN.md §7 / DESIGN §6: every merged 12345 order gets `result` and `closed` when its master does, in
    order per order, each once (a replayed master event queues nothing new)."""
    master, order = uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(master, order_no=None))
    await handle(bus, received(order, "GD-0008"))
    await handle(bus, merged(order, master))
    envelope = await handle(bus, result(master))
    await handle(bus, result(master), envelope)
    await handle(bus, closed(master))
    assert callbacks(store, "GD-0008") == [("accepted", None), ("result", str(master)), ("closed", str(master))]
    [reply] = store.deliveries.where(recipient="12345:GD-0008", event_id=envelope.id)
    assert (reply.incident_id, reply.channel, reply.urgent) == (order, "webhook", True)  # in the order's queue
    assert json.loads(reply.body)["detail"]["result"] == "已现场处置"


async def test_an_order_merged_after_its_master_closed_catches_up_in_order(store, bus):
    """DOMAIN.md §4: merging into a closed case is allowed (intake merges linked duplicates as the master
    closes, on another partition): the order catches up on the result, then the closing, once each."""
    master, order = uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(order, "GD-0010"))
    await handle(bus, result(master))
    await handle(bus, closed(master))
    envelope = await handle(bus, merged(order, master))
    await handle(bus, merged(order, master), envelope)
    assert callbacks(store, "GD-0010") == [("accepted", None), ("result", str(master)), ("closed", str(master))]
    assert store.case_links.holds == 2  # links are made one at a time


async def test_a_linked_duplicate_order_hears_the_result_when_the_master_submits_it(store, bus):
    """DOMAIN.md §4: duplicates mirror the master and are merged when it closes; each linked 12345 order gets
    its callbacks: the result when the master's is submitted, the closing once, however the merge interleaves."""
    master, duplicate = uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(master, "GD-0001"))
    dup = received(duplicate, "GD-0002").model_copy(update={"duplicate_of": master})
    await handle(bus, dup)
    await handle(bus, result(master))
    assert callbacks(store, "GD-0002") == [("accepted", None), ("result", str(master))]
    await handle(bus, merged(duplicate, master))  # intake merges it at the master's close...
    await handle(bus, closed(master))             # ...and the master's closing may come after
    assert callbacks(store, "GD-0002") == [("accepted", None), ("result", str(master)), ("closed", str(master))]
    assert callbacks(store, "GD-0001") == [("accepted", None), ("result", None), ("closed", None)]


async def test_orders_merged_along_a_chain_take_the_outcome_of_its_end(store, bus):
    """A case merged into one that is merged itself follows the chain to its end (intake merges a master's
    linked duplicates into it when the master is merged away), through cases that are not 12345 orders."""
    top, middle, order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(order, "GD-0011"))
    await handle(bus, merged(order, middle))
    await handle(bus, result(top))
    await handle(bus, merged(middle, top))  # the order catches up through the case between
    await handle(bus, closed(top))
    assert callbacks(store, "GD-0011") == [("accepted", None), ("result", str(top)), ("closed", str(top))]


async def test_after_reopening_a_late_follower_gets_the_new_result_not_the_old_closing(store, bus):
    """DOMAIN.md §4 重办: a reopened master is open again; an order merged then catches up on the new result
    only, and hears the closing when it comes."""
    master, order = uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(order, "GD-0012"))
    await handle(bus, result(master, text="第一次"))
    await handle(bus, closed(master))
    assert IncidentReopened.type not in bus.event_handlers  # 重办 itself is not needed: the next result says it
    await handle(bus, result(master, NOW + timedelta(days=1), text="重办后"))
    await handle(bus, merged(order, master))
    bodies = [json.loads(d.body) for d in store.deliveries.where(recipient="12345:GD-0012")]
    assert [(b["callback"], b["detail"].get("result")) for b in bodies] == [("accepted", None), ("result", "重办后")]


async def test_results_of_cases_no_order_follows_queue_no_callback(store, bus):
    """A case that is not a 12345 order and has no orders following it tells 12345 nothing."""
    case = uuid.uuid4()
    await handle(bus, result(case))
    await handle(bus, closed(case))
    assert store.deliveries.rows == []
    assert store.outcomes.rows[case].in_order()[-1].callback == "closed"  # kept for an order merged later


async def test_a_merged_orders_callbacks_go_out_one_after_the_other_in_order(store, bus):
    """DESIGN §6: 12345 callbacks are sent in order per order: the master's result waits behind the order's
    own `accepted`, even when the provider fails it first."""
    master, order = uuid.uuid4(), uuid.uuid4()
    await handle(bus, received(order, "GD-0013"))
    await handle(bus, merged(order, master))
    await handle(bus, result(master))
    await handle(bus, closed(master))
    webhook = FakeChannel(503)
    deliverer = fake_bus(store, webhook=webhook, policy=POLICY)
    for _ in range(4):
        await deliverer.handle(DeliverDue(batch=10))
    assert [json.loads(o.body)["callback"] for o in webhook.sent] == ["accepted", "accepted", "result", "closed"]


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


@pytest.mark.parametrize("status, outcome", [(201, "sent"), (503, "retry"), (400, "dead")])
async def test_each_try_is_counted_by_channel_and_outcome_once_committed(store, status, outcome):
    from prometheus_client import REGISTRY

    labels = {"channel": "sms", "outcome": outcome}
    before = REGISTRY.get_sample_value("notifications_deliveries_total", labels) or 0
    await pending(store)
    await fake_bus(store, sms=FakeChannel(status), policy=POLICY).handle(DeliverDue(batch=10))
    assert REGISTRY.get_sample_value("notifications_deliveries_total", labels) == before + 1


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


async def test_a_bundle_whose_answer_timed_out_goes_again_as_it_was_and_a_newcomer_waits_its_turn(store):
    first, second = [await pending(store, urgent=False) for _ in range(2)]
    sms = FakeChannel(None)  # the provider may have taken it: we never heard
    bus = fake_bus(store, sms=sms, policy=POLICY)
    await bus.handle(DeliverDue(batch=10))
    late = await pending(store, urgent=False)  # due when the retry is
    store.clock.advance(seconds=60)
    await bus.handle(DeliverDue(batch=10))
    assert [m.id for m in sms.sent] == [sms.sent[0].id] * 2  # the same members under the same key
    assert [d.id for d in store.deliveries.where(send_id=first.id, status="sent")] == [first.id, second.id]
    await bus.handle(DeliverDue(batch=10))
    assert store.deliveries.where(id=late.id)[0].next_attempt_at == NOW + timedelta(seconds=120)  # next window
    store.clock.advance(seconds=60)
    await bus.handle(DeliverDue(batch=10))
    assert len(sms.sent) == 3 and sms.sent[-1].id == str(late.id)  # alone, under its own key


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
    await bus.handle(DeleteSubscription("s1", caller_area=("",)))
    with pytest.raises(UnknownSubscription) as absent:
        await bus.handle(DeleteSubscription("s1", caller_area=("",)))
    assert absent.value.status == 404


async def test_a_subscription_belongs_to_its_areas_callers(store, bus):
    """Issue 15: another district's supervisor can neither take over, re-enable nor delete a subscription."""
    await bus.handle(put_subscription(("320508",), ("320508",)))
    store.subscriptions.rows["s1"].disable(NOW, "gone")
    with pytest.raises(OutsideArea):
        await bus.handle(put_subscription(("310101",), ("310101",)))
    with pytest.raises(OutsideArea):  # a write outside one's area: 403, not as if absent
        await bus.handle(DeleteSubscription("s1", caller_area=("310101",)))
    assert store.subscriptions.rows["s1"].area == ("320508",) and store.subscriptions.rows["s1"].disabled_at
    await bus.handle(DeleteSubscription("s1", caller_area=("320508",)))
    assert "s1" not in store.subscriptions.rows


async def test_contacts_are_kept_inside_the_callers_area(store, bus):
    desk = Person("联络员", "13900000012")
    with pytest.raises(OutsideArea):
        await bus.handle(PutContact(COMMUNITY, "社区", liaison=desk, caller_area=("310101",)))
    with pytest.raises(OutsideArea):  # a department is not a code: city-wide callers only
        await bus.handle(PutContact("dept-water", "水务局", liaison=desk, caller_area=("320508",)))
    assert store.contacts.rows == {}
    await bus.handle(PutContact(COMMUNITY, "社区", liaison=desk, caller_area=("320508",)))
    assert store.contacts.rows[COMMUNITY].liaison == desk
    with pytest.raises(OutsideArea):  # a write outside one's area: 403
        await bus.handle(DeleteContact(COMMUNITY, caller_area=("310101",)))
    assert COMMUNITY in store.contacts.rows
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
