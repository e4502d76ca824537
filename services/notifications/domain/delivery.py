"""Deliveries and their discipline: what a provider's answer means, when to try again, when an SMS waits
(quiet hours, bundling, a phone's rate limit), and what replaces a dead SMS. Pure.

A `Delivery` is one message to one recipient on one channel for one event (one per event, recipient and
channel, even across restarts). A `Send` is what goes to a provider at once: one delivery, or a bundle of
non-urgent SMS to one phone under one idempotency key.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.notifications.domain.contacts import Recipient
from services.notifications.domain.notices import Message
from services.notifications.domain.templates import fit_sms, render
from shared.events.notifications import DeliveryEvent, DeliveryFailed, DeliverySucceeded
from shared.ids import time_ordered_id

Outcome = Literal["sent", "retry", "dead", "gone"]
ChannelName = Literal["sms", "email", "webhook"]
Status = Literal["pending", "sent", "failed", "dead"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
BUNDLE_NAMESPACE = uuid.UUID("6f1d3a52-8c1e-4f0a-9d7b-2b5e1c9a4e10")
MAX_BUNDLE = 50  # SMS folded into one message at most; more wait for the next window


# ---- a provider's answer ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outgoing:
    """One delivery as a channel sees it; `id` travels as the idempotency key (or email Message-ID). A
    subscriber's webhook carries the subscriber's own signing secret (never stored with the delivery)."""

    id: str
    channel: str
    recipient: str
    address: str
    body: str
    subject: str | None = None
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Attempt:
    """The result of one try: the provider's success or HTTP status, or None when it gave none.

    Providers that do not speak HTTP (SMTP) report success as their 2xx reply and a failure as None,
    `permanent` when trying again cannot help (SMTP 5xx, a webhook address the egress policy refuses), not
    when it may (SMTP 4xx, no answer, a name that does not resolve right now). `error` is always our own
    short reason, never the receiver's text.
    """

    status_code: int | None
    error: str | None = None
    permanent: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks never to be called again."""
        return not self.succeeded and not self.permanent and self.status_code == 410


def judge(attempt: Attempt, attempts_so_far: int, max_attempts: int) -> Outcome:
    """2xx → sent; 410 → gone (the receiver asks never to be called again); a 3xx (redirects are not
    followed: the URL is wrong), other 4xx (the request itself is wrong) or a permanent refusal → dead at
    once; 5xx/timeout → retry until the cap."""
    code = attempt.status_code
    if attempt.succeeded:
        return "sent"
    if attempt.permanent:
        return "dead"
    if attempt.gone:
        return "gone"
    if code is not None and 300 <= code < 500 and code not in (408, 429):
        return "dead"
    return "dead" if attempts_so_far >= max_attempts else "retry"


def backoff_seconds(attempts_so_far: int, base: float, cap: float = 300.0,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (no herd of retries at the same instant)."""
    ceiling = min(cap, base * 2 ** max(0, attempts_so_far - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


# ---- when an SMS may go -----------------------------------------------------------------------------------

def quiet_until(now: datetime, start: str, end: str, zone: ZoneInfo = SHANGHAI) -> datetime | None:
    """When an SMS held for quiet hours (e.g. 22:00–07:00, local time) may go; None outside them."""
    local = now.astimezone(zone)
    a, b = time.fromisoformat(start), time.fromisoformat(end)
    t = local.time()
    inside = (a <= t < b) if a < b else (t >= a or t < b)
    if not inside:
        return None
    release = datetime.combine(local.date(), b, zone)
    if release <= local:
        release += timedelta(days=1)
    return release


@dataclass(frozen=True)
class QuietHours:
    """A night (Shanghai time, e.g. 22:00–07:00, may span midnight) in which non-urgent SMS wait."""

    start: str
    end: str

    def release(self, now: datetime) -> datetime | None:
        """When an SMS held now may go; None outside the quiet hours."""
        return quiet_until(now, self.start, self.end)


def rate_limited_until(last_sent_at: datetime | None, now: datetime, window_seconds: float) -> datetime | None:
    """A recipient gets at most one non-urgent SMS per window: when the next may go, or None if now."""
    if last_sent_at is None or window_seconds <= 0:
        return None
    allowed = last_sent_at + timedelta(seconds=window_seconds)
    return allowed if allowed > now else None


@dataclass(frozen=True)
class DeliveryPolicy:
    """The delivery rules' settings (NOTIFICATIONS_* in config.py), given to the handlers by bootstrap."""

    # Chinese SMS go as UCS-2: 70 characters alone, 67 per part; longer texts are cut to this many parts.
    max_segments: int = 3
    # Non-urgent SMS wait this long to gather a burst to one phone into one message, and a phone gets at
    # most one non-urgent SMS per window. 0: neither.
    bundle_seconds: float = 0.0
    # The stack's night for everyone's phone; a subscription's own quiet hours replace it.
    quiet_hours: QuietHours | None = None
    max_attempts: int = 6  # dead after this many tries
    backoff_base: float = 1.0  # seconds before the first retry (then doubling, with jitter)

    def first_try_at(self, now: datetime, urgent: bool, quiet_hours: QuietHours | None) -> datetime:
        """When a new SMS first goes. Urgent ones (red lights, 督办 from the yellow card up, emergencies) go at
        once. Others wait out quiet hours, and in any case one bundling window, so that a burst of reminders
        to one person goes as one message."""
        if urgent:
            return now
        release = quiet_hours.release(now) if quiet_hours else None
        return max(release or now, now + timedelta(seconds=self.bundle_seconds))

    @property
    def bundling(self) -> bool:
        return self.bundle_seconds > 0

    def bundle_until(self, now: datetime) -> datetime:
        """A bundle going now takes in the SMS to its phone due within one window from now."""
        return now + timedelta(seconds=self.bundle_seconds)

    def retry_at(self, now: datetime, attempts_so_far: int) -> datetime:
        return now + timedelta(seconds=backoff_seconds(attempts_so_far, self.backoff_base))

    def rate_limited_until(self, last_sms_at: datetime | None, now: datetime) -> datetime | None:
        return rate_limited_until(last_sms_at, now, self.bundle_seconds)


# ---- the delivery -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cause:
    """The event a delivery tells of."""

    event_id: uuid.UUID
    event_type: str
    incident_id: uuid.UUID | None


@dataclass(kw_only=True)
class Delivery:
    """One message to one recipient on one channel, for one event; tried until sent or dead."""

    id: uuid.UUID = field(default_factory=time_ordered_id)
    event_id: uuid.UUID
    event_type: str
    incident_id: uuid.UUID | None
    channel: ChannelName
    recipient: str  # a stable key: worker:<id>, contact:<unit>:<role>, subscription:<id>, 12345:<order no>
    address: str
    body: str
    urgent: bool
    created_at: datetime
    next_attempt_at: datetime
    subject: str | None = None
    summary: str | None = None  # its line in a bundled SMS
    fallback_email: str | None = None  # where a dead SMS goes instead
    full_text: str | None = None  # the whole text when `body` had to be cut to the SMS limit
    status: Status = "pending"
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    bundle_id: uuid.UUID | None = None  # the lead delivery of the bundle that carried it
    # The send a bundling SMS goes in (its lead's id; a lone one's own), fixed before its first try: every retry
    # is then the same message under the same key (the provider may have taken a try we never heard back from).
    send_id: uuid.UUID | None = None
    seq: int = 0  # the order deliveries were made in (numbered by the store)
    # The trace of the event that made it (W3C traceparent; set by the store while tracing is on): its send joins it.
    traceparent: str | None = field(default=None, compare=False, repr=False)
    events: list[DeliveryEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def sms(cls, cause: Cause, recipient: str, phone: str, message: Message, *, urgent: bool, now: datetime,
            policy: DeliveryPolicy, quiet_hours: QuietHours | None, fallback_email: str | None = None
            ) -> Delivery:
        """An SMS, cut to the segment limit (the whole text is kept for the email that replaces it should it
        die), held for `quiet_hours` and the bundling window unless urgent."""
        body = fit_sms(message.text, policy.max_segments)
        return cls(event_id=cause.event_id, event_type=cause.event_type, incident_id=cause.incident_id,
                   channel="sms", recipient=recipient, address=phone, body=body, urgent=urgent, created_at=now,
                   next_attempt_at=policy.first_try_at(now, urgent, quiet_hours), summary=message.summary,
                   fallback_email=fallback_email, full_text=message.text if body != message.text else None)

    @classmethod
    def email(cls, cause: Cause, recipient: str, address: str, message: Message, *, urgent: bool, now: datetime
              ) -> Delivery:
        """An email: the whole text, at once (no night, no bundling for mail)."""
        return cls(event_id=cause.event_id, event_type=cause.event_type, incident_id=cause.incident_id,
                   channel="email", recipient=recipient, address=address, body=message.text,
                   subject=message.subject, urgent=urgent, created_at=now, next_attempt_at=now)

    @classmethod
    def webhook(cls, cause: Cause, recipient: str, url: str, body: str, *, urgent: bool, now: datetime
                ) -> Delivery:
        return cls(event_id=cause.event_id, event_type=cause.event_type, incident_id=cause.incident_id,
                   channel="webhook", recipient=recipient, address=url, body=body, urgent=urgent, created_at=now,
                   next_attempt_at=now)

    @property
    def due_at_once(self) -> bool:
        """Made to go now (not held): the deliverers may be woken for it."""
        return self.next_attempt_at <= self.created_at

    def bundles(self, policy: DeliveryPolicy) -> bool:
        """A non-urgent SMS goes together with the others to its phone in the bundling window."""
        return self.channel == "sms" and not self.urgent and policy.bundling

    def outgoing(self) -> Outgoing:
        return Outgoing(str(self.id), self.channel, self.recipient, self.address, self.body, self.subject)

    def record(self, attempt: Attempt, now: datetime, *, retry_at: datetime, max_attempts: int,
               bundle_id: uuid.UUID | None = None) -> Outcome:
        """The outcome of one try: sent, dead (a 410 too: `gone`, the error says so), or pending again until
        `retry_at`. Records the event of a delivery's end."""
        self.attempts += 1
        self.bundle_id = bundle_id
        outcome = judge(attempt, self.attempts, max_attempts)
        if outcome == "sent":
            self.status, self.last_error, self.sent_at, self.next_attempt_at = "sent", None, now, now
            self.events.append(DeliverySucceeded(
                delivery_id=self.id, incident_id=self.incident_id, cause_event_id=self.event_id,
                channel=self.channel, recipient=self.recipient, attempts=self.attempts, at=now))
        elif outcome in ("dead", "gone"):
            error = attempt.error or "unknown"
            if outcome == "gone":
                error = f"gone: {error}"
            self.status, self.last_error, self.sent_at, self.next_attempt_at = "dead", error, None, now
            self.events.append(DeliveryFailed(
                delivery_id=self.id, incident_id=self.incident_id, cause_event_id=self.event_id,
                channel=self.channel, recipient=self.recipient, attempts=self.attempts, at=now, error=error))
        else:
            self.last_error, self.next_attempt_at = attempt.error, retry_at
        return outcome

    @property
    def falls_back_to_email(self) -> bool:
        """A dead SMS to someone with an email goes by email instead."""
        return self.channel == "sms" and self.status == "dead" and bool(self.fallback_email)

    def email_instead(self, now: datetime, subject_template: str | None) -> Delivery:
        """The email replacing this dead SMS: its whole text (not cut to the SMS limit), under the same event
        and recipient, so a replay or a second dead SMS of the same event adds nothing."""
        assert self.fallback_email is not None, "only an SMS with a fallback email falls back"
        subject = render("email.fallback_subject", subject_template, {"summary": self.summary or self.body[:30]})
        return Delivery(event_id=self.event_id, event_type=self.event_type, incident_id=self.incident_id,
                        channel="email", recipient=self.recipient, address=self.fallback_email,
                        body=self.full_text or self.body, subject=subject, urgent=self.urgent, created_at=now,
                        next_attempt_at=now, traceparent=self.traceparent)


def tell(recipient: Recipient, cause: Cause, message: Message, *, urgent: bool, now: datetime,
         policy: DeliveryPolicy) -> Delivery | None:
    """A person of the directory (or the grid worker) hears by SMS when they have a phone (by email should
    the SMS die, if they have one), else by email; the stack's night holds their SMS."""
    person = recipient.person
    if person.phone:
        return Delivery.sms(cause, recipient.key, person.phone, message, urgent=urgent, now=now, policy=policy,
                            quiet_hours=policy.quiet_hours, fallback_email=person.email)
    if person.email:
        return Delivery.email(cause, recipient.key, person.email, message, urgent=urgent, now=now)
    return None


# ---- what goes to a provider at once ----------------------------------------------------------------------

def bundle_key(delivery_ids: Iterable[object]) -> str:
    """The idempotency key of a bundled SMS: its members'. They are fixed before its first try
    (`Delivery.send_id`), so a retry (after a crash or a timeout, when the provider may have taken it already)
    is the same message under the same key, and the provider sends it once."""
    return str(uuid.uuid5(BUNDLE_NAMESPACE, ",".join(sorted(str(i) for i in delivery_ids))))


def bundle_items(summaries: list[str]) -> str:
    """The list inside a bundled SMS: 1.案件0f1e2d3c签收黄灯；2.…"""
    return "；".join(f"{i}.{summary}" for i, summary in enumerate(summaries, 1))


@dataclass
class Send:
    """One message to a provider: one delivery, or a bundle of non-urgent SMS to one phone, oldest first."""

    deliveries: list[Delivery]

    @property
    def lead(self) -> Delivery:
        return self.deliveries[0]

    @property
    def is_bundle(self) -> bool:
        return len(self.deliveries) > 1

    @property
    def lane(self) -> tuple[str, str]:
        """A receiver's sends go one after the other, in order (one person's SMS arrive as written)."""
        return self.lead.channel, self.lead.recipient

    def join(self, siblings: list[Delivery]) -> None:
        """Other SMS to the same phone in the bundling window go in this message; the oldest leads, so a
        retry carries the same key."""
        self.deliveries.extend(siblings)
        self.deliveries.sort(key=lambda d: d.seq)

    def outgoing(self, policy: DeliveryPolicy, bundle_template: str | None = None) -> Outgoing:
        """What the provider gets; a bundle lists its members' summaries in the `sms.bundle` text."""
        if not self.is_bundle:
            return self.lead.outgoing()
        items = bundle_items([d.summary or d.body for d in self.deliveries])
        text = fit_sms(render("sms.bundle", bundle_template, {"count": str(len(self.deliveries)), "items": items}),
                       policy.max_segments)
        return Outgoing(bundle_key(d.id for d in self.deliveries), "sms", self.lead.recipient, self.lead.address,
                        text)

    def ends_lane(self, attempt: Attempt) -> bool:
        """A webhook receiver answering 410 gets nothing more in this pass."""
        return self.lead.channel == "webhook" and attempt.gone

    def reached_phone(self, attempt: Attempt) -> bool:
        """An SMS the provider took: it counts for the phone's rate limit (urgent ones too)."""
        return self.lead.channel == "sms" and attempt.succeeded

    def record(self, attempt: Attempt, now: datetime, policy: DeliveryPolicy) -> list[tuple[Delivery, Outcome]]:
        """The outcome of the one try for each delivery it carried. A bundle gets one retry time: it stays
        together, under the same idempotency key."""
        retry_at = policy.retry_at(now, self.lead.attempts + 1)
        bundle_id = self.lead.id if self.is_bundle else None
        return [(d, d.record(attempt, now, retry_at=retry_at, max_attempts=policy.max_attempts,
                             bundle_id=bundle_id)) for d in self.deliveries]


def sends_of(due: list[Delivery], policy: DeliveryPolicy) -> list[Send]:
    """Claimed deliveries as sends: one each, except non-urgent SMS to one phone, which go together (in the
    place of the first of them)."""
    sends: list[Send] = []
    by_phone: dict[str, Send] = {}
    for delivery in due:
        if not delivery.bundles(policy):
            sends.append(Send([delivery]))
        elif delivery.address in by_phone:
            by_phone[delivery.address].deliveries.append(delivery)
        else:
            by_phone[delivery.address] = Send([delivery])
            sends.append(by_phone[delivery.address])
    return sends
