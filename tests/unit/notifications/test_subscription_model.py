"""The Subscription model's rules, and the small models of a case: its owner and its 12345 order."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from services.notifications.domain.cases import CaseOwner, HotlineCase, owning_unit_key
from services.notifications.domain.delivery import SHANGHAI, Cause, DeliveryPolicy, QuietHours
from services.notifications.domain.notices import Message
from services.notifications.domain.subscriptions import Subscription, subscription_of

ESCALATION = "supervision.escalation.raised"
NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
POLICY = DeliveryPolicy(bundle_seconds=60, quiet_hours=QuietHours("22:00", "07:00"))
CAUSE = Cause(uuid.uuid4(), ESCALATION, uuid.uuid4())
MESSAGE = Message("【网格督办】黄牌督办：案件0f1e2d3c", "【网格督办】黄牌督办", "案件0f1e2d3c黄牌督办")


def subscription(**changes) -> Subscription:
    given = {"id": "street", "name": "街道综治主任", "role": "supervisor", "area": ("320508019",),
             "event_types": (ESCALATION,), "channels": ("sms",), "phone": "13900000200", **changes}
    return Subscription(**given)


def deliveries(sub: Subscription, *, urgent: bool = False, now: datetime = NOON):
    return sub.deliveries(CAUSE, MESSAGE, urgent=urgent, now=now, policy=POLICY, webhook_body='{"x": 1}')


def test_it_hears_of_its_event_types_in_its_area_while_switched_on():
    sub = subscription()
    assert sub.hears_of(ESCALATION, "320508019044001")
    assert not sub.hears_of(ESCALATION, "320508020044001")  # another street
    assert not sub.hears_of("supervision.light.changed", "320508019044001")
    assert not sub.hears_of(ESCALATION, None)  # no grid: only city-wide subscriptions
    assert subscription(area=("",)).hears_of(ESCALATION, None)
    sub.disable(NOON, "gone")
    assert not sub.hears_of(ESCALATION, "320508019044001")


def test_levels_filter_and_none_means_all():
    assert subscription().wants_level("reminder")
    picky = subscription(levels=("red_card", "leader"))
    assert picky.wants_level("leader") and not picky.wants_level("yellow_card")


def test_one_delivery_per_channel_it_takes_and_has_the_address_of():
    everything = subscription(channels=("sms", "email", "webhook", "sse"), email="s@example.test",
                              webhook_url="http://hooks.example/ops")
    found = deliveries(everything)
    assert [(d.channel, d.address) for d in found] == [("sms", "13900000200"), ("email", "s@example.test"),
                                                       ("webhook", "http://hooks.example/ops")]
    assert {d.recipient for d in found} == {"subscription:street"}
    assert found[2].body == '{"x": 1}'
    assert found[0].fallback_email is None  # takes email anyway: no fallback needed
    assert deliveries(subscription(channels=("email",))) == []  # no address for it


def test_one_who_does_not_take_email_gets_it_when_the_sms_dies():
    [text] = deliveries(subscription(email="s@example.test"))
    assert text.fallback_email == "s@example.test"


def test_its_own_quiet_hours_replace_the_stacks_night():
    [stack_night] = deliveries(subscription(), now=NIGHT)
    assert stack_night.next_attempt_at == datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI)
    night_owl = subscription(quiet_hours=QuietHours("12:00", "13:00"))
    [at_night] = deliveries(night_owl, now=NIGHT)
    assert at_night.next_attempt_at == NIGHT + timedelta(seconds=60)  # only the bundling window
    [at_noon] = deliveries(night_owl, now=NOON)
    assert at_noon.next_attempt_at == datetime(2026, 11, 23, 13, 0, tzinfo=SHANGHAI)
    [urgent] = deliveries(night_owl, now=NOON, urgent=True)
    assert urgent.next_attempt_at == NOON


def test_it_is_switched_off_once_and_only_inside_the_callers_area():
    sub = subscription()
    assert sub.disable(NOON, "the webhook receiver answered 410 Gone")
    assert not sub.disable(NOON + timedelta(hours=1), "again")
    assert (sub.disabled_at, sub.disabled_reason) == (NOON, "the webhook receiver answered 410 Gone")
    assert sub.lies_within(("320508",)) and sub.lies_within(("",))
    assert not sub.lies_within(("310101",))
    assert not subscription(area=("",)).lies_within(("320508",))  # city-wide needs a city-wide caller


def test_a_recipient_key_names_its_subscription():
    assert subscription().recipient == "subscription:street"
    assert subscription_of("subscription:street") == "street"
    assert subscription_of("12345:GD-1") is None and subscription_of("contact:320508:leader") is None


def owner(**changes) -> CaseOwner:
    given = {"incident_id": uuid.uuid4(), "unit_id": "community-320508019044", "unit_name": "社区",
             "unit_kind": "community", "category": "city.ads", "urgency": "normal", "grid_code": "320508019044007",
             **changes}
    return CaseOwner(**given)


def test_the_grid_worker_with_a_phone_handles_the_case_else_the_owning_unit():
    worker = owner(unit_kind="grid", worker_id="w1", worker_name="张伟", worker_phone="13900000001").worker()
    assert worker is not None and (worker.key, worker.person.phone) == ("worker:w1", "13900000001")
    assert owner(worker_id="w1").worker() is None  # no phone
    assert owning_unit_key(owner(), None, None) == "320508019044"
    assert owning_unit_key(owner(grid_code=None), None, "320508019044001") == "320508019044"
    assert owning_unit_key(None, "dept-water", "320508019044001") == "dept-water"


def test_12345_hears_of_signing_once_and_of_everything_else_each_time():
    case = HotlineCase(uuid.uuid4(), "GD-0007")
    assert case.recipient == "12345:GD-0007"
    assert case.report("accepted") and case.report("signed")
    assert not case.report("signed") and case.signed_sent
    assert case.report("result") and case.report("result")
    body = json.loads(case.callback_body("returned", NOON, {"incident_id": "x", "at": "y", "actor": "z",
                                                             "reason": "非本区事权"}))
    assert body == {"order_no": "GD-0007", "callback": "returned", "incident_id": str(case.incident_id),
                    "at": NOON.isoformat(), "detail": {"reason": "非本区事权"}}
