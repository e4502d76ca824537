"""The Delivery model's rules: when an SMS first goes, what a try's answer does to it, what replaces a dead
SMS, and how SMS to one phone go together as one bundle."""

import uuid
from datetime import UTC, datetime, timedelta

from services.notifications.domain.contacts import Person, Recipient
from services.notifications.domain.delivery import (
    SHANGHAI,
    Attempt,
    Cause,
    Delivery,
    DeliveryPolicy,
    QuietHours,
    Send,
    bundle_key,
    sends_of,
    tell,
)
from services.notifications.domain.notices import Message
from services.notifications.domain.templates import sms_segments
from shared.events.notifications import DeliveryFailed, DeliverySucceeded

NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
MORNING = datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI)
NIGHTS = QuietHours("22:00", "07:00")
CAUSE = Cause(uuid.uuid4(), "supervision.light.changed", uuid.uuid4())
SHORT = Message("【网格督办】案件0f1e2d3c签收即将超时亮黄灯。", "【网格督办】案件0f1e2d3c签收黄灯",
                "案件0f1e2d3c签收黄灯")
POLICY = DeliveryPolicy(max_segments=3, bundle_seconds=60, quiet_hours=NIGHTS, max_attempts=3, backoff_base=1.0)


def sms(message: Message = SHORT, *, urgent: bool = False, now: datetime = NOON, policy: DeliveryPolicy = POLICY,
        quiet_hours: QuietHours | None = NIGHTS, fallback_email: str | None = None, phone: str = "13900000001",
        recipient: str = "worker:w1") -> Delivery:
    return Delivery.sms(CAUSE, recipient, phone, message, urgent=urgent, now=now, policy=policy,
                        quiet_hours=quiet_hours, fallback_email=fallback_email)


def test_delivery_ids_are_time_ordered_so_a_year_of_them_appends_to_the_index():
    made = [sms() for _ in range(100)]
    assert {d.id.version for d in made} == {7}
    assert [d.id for d in made] == sorted(d.id for d in made)


def test_an_urgent_sms_goes_at_once_night_or_not():
    assert sms(urgent=True, now=NIGHT).next_attempt_at == NIGHT
    assert sms(urgent=True).due_at_once


def test_a_non_urgent_sms_waits_one_bundling_window_and_at_night_until_morning():
    assert sms().next_attempt_at == NOON + timedelta(seconds=60)
    assert not sms().due_at_once
    assert sms(now=NIGHT).next_attempt_at == MORNING
    assert sms(now=NIGHT, quiet_hours=None).next_attempt_at == NIGHT + timedelta(seconds=60)
    no_window = DeliveryPolicy(bundle_seconds=0)
    assert sms(policy=no_window, quiet_hours=None).next_attempt_at == NOON


def test_email_and_webhooks_go_at_once_even_at_night():
    assert Delivery.email(CAUSE, "contact:x:leader", "a@b.example", SHORT, urgent=False, now=NIGHT).due_at_once
    assert Delivery.webhook(CAUSE, "12345:A1", "http://x", "{}", urgent=True, now=NIGHT).due_at_once


def test_a_long_sms_is_cut_to_the_segment_limit_and_keeps_its_whole_text():
    long = Message("【网格督办】" + "批示内容" * 100, "subject", "summary")
    cut = sms(long)
    assert len(sms_segments(cut.body)) == 3 and cut.body.endswith("…")
    assert cut.full_text == long.text
    assert sms().full_text is None  # nothing was cut


def test_a_2xx_is_sent_and_says_so():
    delivery = sms()
    assert delivery.record(Attempt(201), NOON, retry_at=NOON, max_attempts=3) == "sent"
    assert (delivery.status, delivery.attempts, delivery.sent_at, delivery.last_error) == ("sent", 1, NOON, None)
    [event] = delivery.events
    assert isinstance(event, DeliverySucceeded) and event.delivery_id == delivery.id
    assert event.cause_event_id == CAUSE.event_id and event.attempts == 1


def test_a_5xx_is_tried_again_at_the_retry_time_until_the_cap_then_dead():
    delivery = sms()
    later = NOON + timedelta(seconds=5)
    assert delivery.record(Attempt(503, "HTTP 503"), NOON, retry_at=later, max_attempts=2) == "retry"
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, later)
    assert delivery.last_error == "HTTP 503" and delivery.events == []
    assert delivery.record(Attempt(None, "ConnectTimeout"), later, retry_at=later, max_attempts=2) == "dead"
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("dead", 2, "ConnectTimeout")
    [event] = delivery.events
    assert isinstance(event, DeliveryFailed) and event.error == "ConnectTimeout"


def test_a_4xx_is_dead_at_once_and_a_410_says_the_receiver_is_gone():
    refused = sms()
    assert refused.record(Attempt(400, "HTTP 400"), NOON, retry_at=NOON, max_attempts=6) == "dead"
    gone = Delivery.webhook(CAUSE, "subscription:ops", "http://x", "{}", urgent=False, now=NOON)
    assert gone.record(Attempt(410, "HTTP 410"), NOON, retry_at=NOON, max_attempts=6) == "gone"
    assert (gone.status, gone.last_error) == ("dead", "gone: HTTP 410")


def test_a_dead_sms_falls_back_to_one_email_with_the_whole_text():
    long = Message("【网格督办】" + "请立即整改" * 60, "subject", "案件0f1e2d3c红牌督办")
    delivery = sms(long, fallback_email="shuji@example.test", recipient="contact:320508019044:leader")
    assert not delivery.falls_back_to_email  # not dead yet
    delivery.record(Attempt(400, "HTTP 400"), NOON, retry_at=NOON, max_attempts=3)
    assert delivery.falls_back_to_email
    email = delivery.email_instead(NOON, None)
    assert (email.channel, email.address, email.body) == ("email", "shuji@example.test", long.text)
    assert (email.event_id, email.recipient, email.urgent) == (delivery.event_id, delivery.recipient, False)
    assert email.subject == "【网格督办】短信未能送达，改发邮件：案件0f1e2d3c红牌督办"
    assert email.due_at_once
    assert delivery.email_instead(NOON, "【短信未达】{summary}").subject == "【短信未达】案件0f1e2d3c红牌督办"
    without = sms()
    without.record(Attempt(400), NOON, retry_at=NOON, max_attempts=3)
    assert not without.falls_back_to_email


def test_a_directory_person_hears_by_sms_with_email_as_fallback_else_by_email():
    both = tell(Recipient("contact:1:leader", Person("书记", "13900000112", "shuji@example.test")), CAUSE, SHORT,
                urgent=False, now=NIGHT, policy=POLICY)
    assert both is not None and (both.channel, both.fallback_email) == ("sms", "shuji@example.test")
    assert both.next_attempt_at == MORNING  # the stack's night
    mail = tell(Recipient("contact:1:leader", Person("局长", email="chief@example.test")), CAUSE, SHORT,
                urgent=False, now=NOON, policy=POLICY)
    assert mail is not None and (mail.channel, mail.body, mail.subject) == ("email", SHORT.text, SHORT.subject)
    assert tell(Recipient("contact:1:leader", Person("无")), CAUSE, SHORT, urgent=False, now=NOON,
                policy=POLICY) is None


def numbered(*deliveries: Delivery) -> list[Delivery]:
    for n, delivery in enumerate(deliveries, 1):
        delivery.seq = n
    return list(deliveries)


def test_non_urgent_sms_to_one_phone_go_as_one_send_and_the_rest_alone():
    a1, b1, a2 = numbered(sms(phone="1"), sms(phone="2"), sms(phone="1"))
    red = numbered(sms(phone="1", urgent=True))[0]
    hook = Delivery.webhook(CAUSE, "12345:A1", "http://x", "{}", urgent=True, now=NOON)
    sends = sends_of([a1, b1, a2, red, hook], POLICY)
    assert [s.deliveries for s in sends] == [[a1, a2], [b1], [red], [hook]]
    assert [len(s.deliveries) for s in sends_of([a1, a2], DeliveryPolicy(bundle_seconds=0))] == [1, 1]


def test_a_bundle_is_one_message_listing_its_members_under_its_members_key():
    first, second, third = numbered(*(sms(Message(f"text {n}", "s", f"案件{n}签收黄灯")) for n in range(3)))
    send = Send([second])
    send.join([third, first])
    assert send.deliveries == [first, second, third]  # the oldest leads
    outgoing = send.outgoing(POLICY)
    assert outgoing.body == ("【网格督办】您有3条提醒：1.案件0签收黄灯；2.案件1签收黄灯；3.案件2签收黄灯。"
                             "请及时登录平台处理。")
    assert outgoing.id == bundle_key([third.id, first.id, second.id])  # the same members: the same key
    assert outgoing.id != bundle_key([first.id, second.id])  # a newcomer makes it a new message
    assert send.outgoing(POLICY, "【督办】{count}条：{items}").body.startswith("【督办】3条：1.案件0")
    assert Send([first]).outgoing(POLICY).id == str(first.id)


def test_a_bundle_that_fails_keeps_together_with_one_retry_time():
    members = numbered(sms(), sms())
    members[1].attempts = 2  # joined later, after its own failures
    outcomes = Send(members).record(Attempt(503), NOON, POLICY)
    assert [outcome for _, outcome in outcomes] == ["retry", "dead"]  # each by its own count
    assert members[0].next_attempt_at > NOON and members[0].bundle_id == members[0].id
    assert members[1].bundle_id == members[0].id


def test_a_webhook_410_ends_its_lane_and_an_sms_taken_counts_for_the_phone():
    hook = Send([Delivery.webhook(CAUSE, "subscription:ops", "http://x", "{}", urgent=False, now=NOON)])
    assert hook.ends_lane(Attempt(410)) and not hook.ends_lane(Attempt(503))
    assert not Send([sms()]).ends_lane(Attempt(410))
    assert Send([sms()]).reached_phone(Attempt(201)) and not Send([sms()]).reached_phone(Attempt(500))
    assert hook.lane == ("webhook", "subscription:ops")


def test_a_phone_gets_one_non_urgent_sms_per_window():
    assert POLICY.rate_limited_until(None, NOON) is None
    assert POLICY.rate_limited_until(NOON - timedelta(seconds=30), NOON) == NOON + timedelta(seconds=30)
    assert POLICY.rate_limited_until(NOON - timedelta(seconds=60), NOON) is None


def test_retries_back_off_exponentially():
    first = POLICY.retry_at(NOON, 1) - NOON
    fourth = POLICY.retry_at(NOON, 4) - NOON
    assert timedelta(seconds=0.5) <= first <= timedelta(seconds=1)
    assert timedelta(seconds=4) <= fourth <= timedelta(seconds=8)
