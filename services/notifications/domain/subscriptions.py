"""Subscriptions: who else hears of events (supervisors, leaders, other systems), by area, event type,
督办 level and channel. Pure."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from services.notifications.domain.delivery import Cause, Delivery, DeliveryPolicy, QuietHours
from services.notifications.domain.notices import Message
from shared.actor import covers
from shared.events.envelope import Envelope

RECIPIENT_PREFIX = "subscription:"
GONE_REASON = "the webhook receiver answered 410 Gone"


def subscription_of(recipient: str) -> str | None:
    """The subscription a delivery's recipient key names, if it names one."""
    kind, _, sub_id = recipient.partition(":")
    return sub_id if f"{kind}:" == RECIPIENT_PREFIX else None


@dataclass
class Subscription:
    id: str
    name: str
    role: str
    area: tuple[str, ...]  # grid-code prefixes ('' = the whole city)
    event_types: tuple[str, ...]
    channels: tuple[str, ...]  # sms | email | webhook | sse (sse: the live stream, nothing to deliver)
    levels: tuple[str, ...] = ()  # 督办 levels of interest (none: all)
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = None
    quiet_hours: QuietHours | None = None  # replaces the stack's night for its SMS
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    has_secret: bool = False  # its own webhook signing secret (kept sealed by the store, never on this object)

    @property
    def recipient(self) -> str:
        return f"{RECIPIENT_PREFIX}{self.id}"

    def lies_within(self, area: tuple[str, ...]) -> bool:
        """A caller may only subscribe to what its own area covers."""
        return all(covers(area, prefix) for prefix in self.area)

    def hears_of(self, event_type: str, grid_code: str | None) -> bool:
        """Subscribed to this event type in an area that covers the grid (no grid: only city-wide ones), and
        not switched off. (The store's `subscribers_for` query says the same in SQL.)"""
        if self.disabled_at is not None or event_type not in self.event_types:
            return False
        return any(prefix == "" if grid_code is None else grid_code.startswith(prefix) for prefix in self.area)

    def wants_level(self, level: str) -> bool:
        return not self.levels or level in self.levels

    def deliveries(self, cause: Cause, message: Message, *, urgent: bool, now: datetime, policy: DeliveryPolicy,
                   webhook_body: str) -> list[Delivery]:
        """One delivery per channel it takes and has the address of. Its SMS wait out its own quiet hours
        (else the stack's night) unless urgent; one who does not take email anyway gets it when the SMS
        dies."""
        found: list[Delivery] = []
        if "sms" in self.channels and self.phone:
            found.append(Delivery.sms(cause, self.recipient, self.phone, message, urgent=urgent, now=now,
                                      policy=policy, quiet_hours=self.quiet_hours or policy.quiet_hours,
                                      fallback_email=self.email if "email" not in self.channels else None))
        if "email" in self.channels and self.email:
            found.append(Delivery.email(cause, self.recipient, self.email, message, urgent=urgent, now=now))
        if "webhook" in self.channels and self.webhook_url:
            found.append(Delivery.webhook(cause, self.recipient, self.webhook_url, webhook_body, urgent=urgent,
                                          now=now))
        return found

    def disable(self, at: datetime, reason: str) -> bool:
        """Switched off (kept, with the reason, until someone puts it again); False if it already was."""
        if self.disabled_at is not None:
            return False
        self.disabled_at, self.disabled_reason = at, reason
        return True


def new_secret() -> str:
    """A subscriber's webhook signing secret: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def webhook_body(subscription_id: str, envelope: Envelope, alert: str | None = None) -> str:
    """What a subscriber's receiver gets: the event as it was on the bus, plus which subscription matched (and,
    for a centre alert, which one: `centre.unroutable`, …)."""
    body = {"subscription": subscription_id, "event_id": str(envelope.id), "type": envelope.type,
            "subject": envelope.subject, "time": envelope.time.isoformat(), "data": envelope.data}
    if alert is not None:
        body["alert"] = alert
    return json.dumps(body, ensure_ascii=False, default=str)
