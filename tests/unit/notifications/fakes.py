"""In-memory notifications for handler tests: repositories over a `NotificationsStore` shared by every unit of
work a bus makes, fake channels, and a bus built the way bootstrap builds it."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.notifications.bootstrap import message_bus
from services.notifications.domain.alerts import Alert
from services.notifications.domain.cases import CaseOutcomes, CaseOwner, HotlineCase
from services.notifications.domain.contacts import UnitContact
from services.notifications.domain.delivery import Attempt, Delivery, DeliveryPolicy, Outgoing
from services.notifications.domain.subscriptions import Subscription
from services.notifications.domain.templates import StoredTemplate
from services.notifications.service_layer.channels import Channel, Channels, WebhookUrls
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.clock import Clock
from shared.events.envelope import Envelope
from shared.messagebus import MessageBus
from tests.unit.fakes import FakeUnitOfWork


def _copy(delivery: Delivery) -> Delivery:
    """What the store holds is its own: a handler's object changes nothing until it is saved."""
    return dataclasses.replace(delivery, events=[])


class FakeDeliveries:
    def __init__(self) -> None:
        self.rows: list[Delivery] = []
        self.wakes = 0
        self._seq = itertools.count(1)

    async def add(self, delivery: Delivery) -> bool:
        if any((d.event_id, d.recipient, d.channel) == (delivery.event_id, delivery.recipient, delivery.channel)
               for d in self.rows):
            return False
        stored = _copy(delivery)
        stored.seq = next(self._seq)
        self.rows.append(stored)
        if stored.due_at_once:
            self.wakes += 1
        return True

    async def add_many(self, deliveries: Sequence[Delivery]) -> int:
        return sum([await self.add(delivery) for delivery in deliveries])

    async def claim_due(self, limit: int, now: datetime, bundling: bool) -> list[Delivery]:
        due = [d for d in self.rows if d.status == "pending" and d.next_attempt_at <= now
               and not (d.channel == "webhook" and self._earlier_webhook_pending(d))
               and d.send_id in (None, d.id) and not (bundling and self._to_bundle(d))]
        due.sort(key=lambda d: (d.next_attempt_at, d.seq))
        return [_copy(d) for d in due[:limit]]

    async def claim_sms_to_bundle(self, limit: int, now: datetime) -> list[Delivery]:
        in_flight = {d.address for d in self.rows if d.channel == "sms" and d.status == "pending" and d.send_id}
        due = [d for d in self.rows if self._to_bundle(d) and d.status == "pending" and d.next_attempt_at <= now
               and d.address not in in_flight]
        due.sort(key=lambda d: (d.next_attempt_at, d.seq))
        return [_copy(d) for d in due[:limit]]

    async def form_send(self, deliveries: list[Delivery], send_id: uuid.UUID) -> None:
        for d in deliveries:
            self._row(d.id).send_id = send_id

    async def claim_send_members(self, lead: Delivery) -> list[Delivery]:
        return [_copy(d) for d in self.rows if d.send_id == lead.id and d.id != lead.id and d.status == "pending"]

    @staticmethod
    def _to_bundle(d: Delivery) -> bool:
        return d.channel == "sms" and not d.urgent and d.send_id is None

    def _earlier_webhook_pending(self, d: Delivery) -> bool:
        return any(e.incident_id == d.incident_id and e.recipient == d.recipient and e.channel == "webhook"
                   and e.status == "pending" and e.seq < d.seq for e in self.rows)

    async def claim_sms_siblings(self, phone: str, claimed: list[uuid.UUID], until: datetime, limit: int
                                 ) -> list[Delivery]:
        found = [d for d in self.rows if d.channel == "sms" and d.address == phone and d.status == "pending"
                 and not d.urgent and d.send_id is None and d.id not in claimed and d.next_attempt_at <= until]
        return [_copy(d) for d in sorted(found, key=lambda d: d.seq)[:limit]]

    async def postpone(self, deliveries: list[Delivery], until: datetime) -> None:
        for d in deliveries:
            self._row(d.id).next_attempt_at = until

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            row = self._row(delivery.id)
            row.status, row.attempts, row.last_error = delivery.status, delivery.attempts, delivery.last_error
            row.sent_at, row.next_attempt_at = delivery.sent_at, delivery.next_attempt_at
            row.bundle_id = delivery.bundle_id

    async def drop_pending_webhooks(self, recipient: str, reason: str) -> None:
        for d in self.rows:
            if d.recipient == recipient and d.channel == "webhook" and d.status == "pending":
                d.status, d.last_error = "dead", reason

    def _row(self, delivery_id: uuid.UUID) -> Delivery:
        return next(d for d in self.rows if d.id == delivery_id)

    def where(self, **equal: object) -> list[Delivery]:
        """The stored deliveries whose attributes equal these, in the order they were made."""
        return [d for d in self.rows if all(getattr(d, name) == value for name, value in equal.items())]


class FakeSmsRecipients:
    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}

    async def last_sms_at(self, phone: str) -> datetime | None:
        return self.last.get(phone)

    async def sms_sent(self, phones: Sequence[str], at: datetime) -> None:
        for phone in phones:
            self.last[phone] = max(at, self.last.get(phone, at))


class FakeSubscriptions:
    def __init__(self) -> None:
        self.rows: dict[str, Subscription] = {}
        self.secret_of: dict[str, str] = {}  # the store keeps them sealed; here in the clear

    async def get(self, sub_id: str) -> Subscription | None:
        found = self.rows.get(sub_id)
        return dataclasses.replace(found, has_secret=sub_id in self.secret_of) if found else None

    async def put(self, subscription: Subscription) -> None:
        self.rows[subscription.id] = dataclasses.replace(subscription, disabled_at=None, disabled_reason=None)

    async def set_secret(self, sub_id: str, secret: str, at: datetime) -> bool:
        if sub_id not in self.rows:
            return False
        self.secret_of[sub_id] = secret
        return True

    async def secrets(self, sub_ids: list[str]) -> dict[str, str]:
        return {sub_id: self.secret_of[sub_id] for sub_id in sub_ids if sub_id in self.secret_of}

    async def remove(self, sub_id: str) -> bool:
        self.secret_of.pop(sub_id, None)
        return self.rows.pop(sub_id, None) is not None

    async def for_event(self, event_type: str, grid_code: str | None) -> list[Subscription]:
        return [dataclasses.replace(s) for _, s in sorted(self.rows.items()) if s.hears_of(event_type, grid_code)]

    async def save_disabled(self, subscription: Subscription) -> None:
        stored = self.rows.get(subscription.id)
        if stored is not None and stored.disabled_at is None:
            stored.disabled_at, stored.disabled_reason = subscription.disabled_at, subscription.disabled_reason


class FakeContacts:
    def __init__(self) -> None:
        self.rows: dict[str, UnitContact] = {}

    async def for_units(self, unit_codes: list[str]) -> dict[str, UnitContact]:
        return {code: self.rows[code] for code in unit_codes if code in self.rows}

    async def put(self, contact: UnitContact) -> None:
        self.rows[contact.unit_code] = contact

    async def remove(self, unit_code: str) -> bool:
        return self.rows.pop(unit_code, None) is not None


class FakeTemplates:
    def __init__(self, clock: Clock) -> None:
        self.rows: dict[str, StoredTemplate] = {}
        self._clock = clock

    async def texts(self, names: list[str]) -> dict[str, str]:
        return {name: self.rows[name].body for name in names if name in self.rows}

    async def put(self, template: StoredTemplate) -> StoredTemplate:
        self.rows[template.name] = dataclasses.replace(template, updated_at=self._clock.now())
        return self.rows[template.name]


class FakeAlerts:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Alert] = {}

    async def add(self, alert: Alert) -> None:
        self.rows.setdefault(alert.event_id, alert)


class FakeCaseOwners:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, CaseOwner] = {}

    async def get(self, incident_id: uuid.UUID) -> CaseOwner | None:
        return self.rows.get(incident_id)

    async def replace(self, owner: CaseOwner) -> CaseOwner | None:
        known = self.rows.get(owner.incident_id)
        # as the store does: a reassignment changes who owns it, not what the case is
        self.rows[owner.incident_id] = owner if known is None else dataclasses.replace(
            owner, category=known.category, urgency=known.urgency)
        return known

    async def replace_many(self, owners: Sequence[CaseOwner]) -> dict[uuid.UUID, CaseOwner]:
        return {owner.incident_id: known for owner in owners if (known := await self.replace(owner)) is not None}


class FakeHotlineCases:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, HotlineCase] = {}

    async def add(self, case: HotlineCase) -> None:
        self.rows.setdefault(case.incident_id, dataclasses.replace(case))

    async def get(self, incident_id: uuid.UUID) -> HotlineCase | None:
        found = self.rows.get(incident_id)
        return dataclasses.replace(found) if found else None

    async def save(self, case: HotlineCase) -> None:
        self.rows[case.incident_id] = dataclasses.replace(case)


class FakeCaseLinks:
    def __init__(self, hotline_cases: FakeHotlineCases) -> None:
        self.masters: dict[uuid.UUID, uuid.UUID] = {}  # follower → master
        self.holds = 0
        self._hotline_cases = hotline_cases

    async def hold(self) -> None:
        self.holds += 1

    async def link(self, incident_id: uuid.UUID, master_id: uuid.UUID) -> None:
        self.masters[incident_id] = master_id

    async def root_of(self, incident_id: uuid.UUID) -> uuid.UUID:
        seen = [incident_id]
        while (master := self.masters.get(seen[-1])) is not None and master not in seen:
            seen.append(master)
        return seen[-1]

    async def hotline_followers(self, master_id: uuid.UUID) -> list[HotlineCase]:
        found: set[uuid.UUID] = set()
        frontier = [master_id]
        while frontier:
            step = [f for f, m in self.masters.items() if m in frontier and f not in found and f != master_id]
            found.update(step)
            frontier = step
        return [dataclasses.replace(self._hotline_cases.rows[f]) for f in sorted(found, key=str)
                if f in self._hotline_cases.rows]


class FakeOutcomes:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, CaseOutcomes] = {}

    async def get(self, incident_id: uuid.UUID) -> CaseOutcomes:
        return dataclasses.replace(self.rows.get(incident_id) or CaseOutcomes(incident_id))

    async def save(self, outcomes: CaseOutcomes) -> None:
        self.rows[outcomes.incident_id] = dataclasses.replace(outcomes)


class NotificationsStore:
    """What a database would hold; every unit of work of one test reads and writes the same."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.deliveries = FakeDeliveries()
        self.sms_recipients = FakeSmsRecipients()
        self.subscriptions = FakeSubscriptions()
        self.contacts = FakeContacts()
        self.templates = FakeTemplates(clock)
        self.alerts = FakeAlerts()
        self.owners = FakeCaseOwners()
        self.hotline_cases = FakeHotlineCases()
        self.case_links = FakeCaseLinks(self.hotline_cases)
        self.outcomes = FakeOutcomes()
        self.published: list[Envelope] = []  # every event committed, in order

    REPOSITORIES = ("deliveries", "sms_recipients", "subscriptions", "contacts", "templates", "alerts", "owners",
                    "hotline_cases", "case_links", "outcomes")

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every repository's rows, copied (what a rollback goes back to)."""
        return {name: copy.deepcopy(vars(getattr(self, name)), self._shared()) for name in self.REPOSITORIES}

    def restore(self, snapshot: dict[str, dict[str, Any]]) -> None:
        for name, rows in snapshot.items():
            state = vars(getattr(self, name))
            state.clear()
            state.update(copy.deepcopy(rows, self._shared()))

    def _shared(self) -> dict[int, Any]:
        # What repositories refer to rather than own (the clock, a sibling repository): kept, not copied.
        return {id(self.clock): self.clock, id(self.hotline_cases): self.hotline_cases}


class FakeNotificationsUnitOfWork(FakeUnitOfWork):
    """Writes go straight to the store and are undone on rollback, as a transaction's would be (a handler that
    forgets to commit leaves the store as it was); events are published on commit only."""

    def __init__(self, store: NotificationsStore) -> None:
        super().__init__("/notifications", store.clock)
        self.store = store
        self.deliveries = store.deliveries
        self.sms_recipients = store.sms_recipients
        self.subscriptions = store.subscriptions
        self.contacts = store.contacts
        self.templates = store.templates
        self.alerts = store.alerts
        self.owners = store.owners
        self.hotline_cases = store.hotline_cases
        self.case_links = store.case_links
        self.outcomes = store.outcomes

    def _begin(self) -> None:
        super()._begin()
        self._snapshot = self.store.snapshot()

    async def rollback(self) -> None:
        self.store.restore(self._snapshot)
        await super().rollback()

    async def _write_outbox(self) -> None:
        self.store.published.extend(self.pending)
        await super()._write_outbox()


class FakeChannel:
    """A provider answering with the statuses it is given (then `then`), recording what it got."""

    def __init__(self, *statuses: int | None, then: int = 200) -> None:
        self.statuses = list(statuses)
        self.then = then
        self.sent: list[Outgoing] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.sent.append(delivery)
        status = self.statuses.pop(0) if self.statuses else self.then
        ok = status is not None and 200 <= status < 300
        return Attempt(status, None if ok else f"HTTP {status}")


class UnusedChannel:
    """A channel a test does not expect to be used: using it is a failure."""

    async def send(self, delivery: Outgoing) -> Attempt:
        raise AssertionError(f"nothing was to go by {delivery.channel}: {delivery.body[:40]}")


class FakeWebhookUrls:
    """Where webhooks may go, as a test says: every URL but those it refuses (by URL, with the reason)."""

    def __init__(self, refused: dict[str, str] | None = None) -> None:
        self.refused = dict(refused or {})
        self.asked: list[str] = []

    async def refusal(self, url: str) -> str | None:
        self.asked.append(url)
        return self.refused.get(url)


def channels(sms: Channel | None = None, email: Channel | None = None, webhook: Channel | None = None,
             webhook_urls: WebhookUrls | None = None) -> Channels:
    return Channels(sms=sms or UnusedChannel(), email=email or UnusedChannel(), webhook=webhook or UnusedChannel(),
                    webhook_urls=webhook_urls or FakeWebhookUrls())


def fake_bus(store: NotificationsStore, *, sms: Channel | None = None, email: Channel | None = None,
             webhook: Channel | None = None, policy: DeliveryPolicy | None = None,
             hotline_callback_url: str = "http://12345.example/cb", webhook_urls: WebhookUrls | None = None
             ) -> MessageBus[NotificationsUnitOfWork]:
    """The bus bootstrap builds, over the store."""
    return message_bus(lambda: FakeNotificationsUnitOfWork(store),
                       channels=channels(sms, email, webhook, webhook_urls),
                       policy=policy or DeliveryPolicy(), hotline_callback_url=hotline_callback_url)


def _conforms(uow: FakeNotificationsUnitOfWork) -> NotificationsUnitOfWork:
    return uow
