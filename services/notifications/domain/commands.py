"""What callers ask notifications to do (imperative names): the directory, subscriptions and templates
edited over HTTP, and the deliverer's pass. Events from the other services arrive as events, not here."""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications.domain.contacts import Person
from services.notifications.domain.delivery import QuietHours
from services.notifications.domain.templates import StoredTemplate
from shared.messagebus import Command


@dataclass(frozen=True)
class PutSubscription(Command[str | None]):
    """Create or replace a subscription (switching it on again if a 410 had switched it off). Returns its new
    webhook signing secret when it got one (at creation, or a subscription from before secrets were per
    subscriber), else None: a secret is shown once."""

    sub_id: str
    name: str
    role: str
    area: tuple[str, ...]
    event_types: tuple[str, ...]
    channels: tuple[str, ...]
    levels: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    webhook_url: str | None = None
    quiet_hours: QuietHours | None = None
    caller_area: tuple[str, ...] = ()  # the subscription's area must lie inside it


@dataclass(frozen=True)
class RotateSubscriptionSecret(Command[str]):
    """A new webhook signing secret for the subscription, replacing its old one at once; returns it (shown once)."""

    sub_id: str
    caller_area: tuple[str, ...] = ()  # another area's subscription is not the caller's to touch


@dataclass(frozen=True)
class DeleteSubscription(Command[None]):
    sub_id: str
    caller_area: tuple[str, ...] = ()  # another area's subscription is as if absent


@dataclass(frozen=True)
class PutContact(Command[None]):
    """Create or replace who answers for a unit (territorial by code, a department by its unit id)."""

    unit_code: str
    name: str
    liaison: Person | None = None
    leader: Person | None = None
    supervisor: Person | None = None
    caller_area: tuple[str, ...] = ()  # the unit must lie inside it (departments: city-wide callers only)


@dataclass(frozen=True)
class DeleteContact(Command[None]):
    unit_code: str
    caller_area: tuple[str, ...] = ()  # outside it, the contact is as if absent


@dataclass(frozen=True)
class EditTemplate(Command[StoredTemplate]):
    name: str
    body: str
    by: str  # who edits it (the token's subject)


@dataclass(frozen=True)
class DeliverDue(Command[int]):
    """One pass of a deliverer: claim up to `batch` due deliveries, send them, record the outcomes.
    Returns how many it claimed."""

    batch: int
    concurrency: int = 1  # sends under way at once (one receiver's still go one after the other)
