"""Notifications' unit of work: its repositories (named in the plural for what each holds) as Protocols the
Postgres implementation and the unit tests' fakes both meet, and the Postgres implementation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from services.notifications.adapters.repository import (
    AlertRepository,
    CaseLinkRepository,
    CaseOutcomeRepository,
    CaseOwnerRepository,
    ContactRepository,
    DeliveryRepository,
    HotlineCaseRepository,
    SmsRecipientRepository,
    SubscriptionRepository,
    TemplateRepository,
)
from services.notifications.adapters.secret_box import SecretBox
from services.notifications.domain.alerts import Alert
from services.notifications.domain.cases import CaseOutcomes, CaseOwner, HotlineCase
from services.notifications.domain.contacts import UnitContact
from services.notifications.domain.delivery import Delivery
from services.notifications.domain.subscriptions import Subscription
from services.notifications.domain.templates import StoredTemplate
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork, PublishingUnitOfWork

SOURCE = "/notifications"


class Deliveries(Protocol):
    async def add(self, delivery: Delivery) -> bool:
        """Store a new delivery; False (nothing stored) when its event already has one for that recipient and
        channel. One due at once wakes the deliverers when the unit of work commits."""
        ...

    async def add_many(self, deliveries: Sequence[Delivery]) -> int:
        """`add` for many, in one round trip and in their order; returns how many were stored."""
        ...

    async def claim_due(self, limit: int, now: datetime, bundling: bool) -> list[Delivery]:
        """Pending deliveries whose time has come, in order, held by this unit of work (other deliverers skip
        them). A webhook waits while an earlier one of its case to the same receiver is pending. Of a send
        (`Delivery.send_id`), only its lead; with `bundling`, no non-urgent SMS in no send yet."""
        ...

    async def claim_sms_to_bundle(self, limit: int, now: datetime) -> list[Delivery]:
        """Pending non-urgent SMS due and in no send yet, in order, held; none to a phone that has a send still
        pending (answer or retry to come)."""
        ...

    async def form_send(self, deliveries: list[Delivery], send_id: uuid.UUID) -> None:
        """Record that these go in the send `send_id` (its lead's id), from now on and on every retry."""
        ...

    async def claim_send_members(self, lead: Delivery) -> list[Delivery]:
        """The other pending members of the send `lead` leads, oldest first, held."""
        ...

    async def claim_sms_siblings(self, phone: str, claimed: list[uuid.UUID], until: datetime, limit: int
                                 ) -> list[Delivery]:
        """Other pending non-urgent SMS to `phone` in no send yet, due by `until` (not among `claimed`), oldest
        first, held."""
        ...

    async def postpone(self, deliveries: list[Delivery], until: datetime) -> None: ...

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        """Record the outcome of each one's try (status, attempts, error, times, bundle)."""
        ...

    async def drop_pending_webhooks(self, recipient: str, reason: str) -> None:
        """The receiver is gone: what still waited for it is dead with `reason`."""
        ...


class SmsRecipients(Protocol):
    """When each phone last got an SMS (its rate limit)."""

    async def last_sms_at(self, phone: str) -> datetime | None: ...

    async def sms_sent(self, phones: Sequence[str], at: datetime) -> None: ...


class Subscriptions(Protocol):
    async def get(self, sub_id: str) -> Subscription | None: ...

    async def put(self, subscription: Subscription) -> None:
        """Create or replace (its owner's whole subscription: switched on again if it was off)."""
        ...

    async def remove(self, sub_id: str) -> bool:
        """False when there was none."""
        ...

    async def for_event(self, event_type: str, grid_code: str | None) -> list[Subscription]:
        """The switched-on subscriptions that hear of this event type in this grid (`Subscription.hears_of`)."""
        ...

    async def save_disabled(self, subscription: Subscription) -> None:
        """Record that the service switched it off (when, why)."""
        ...

    async def set_secret(self, sub_id: str, secret: str, at: datetime) -> bool:
        """Give the subscription a new webhook signing secret (kept sealed); False when there is no such
        subscription."""
        ...

    async def secrets(self, sub_ids: list[str]) -> dict[str, str]:
        """The signing secrets of these subscriptions, by id (one without a readable secret is left out)."""
        ...


class Contacts(Protocol):
    """The directory: who answers for each unit."""

    async def for_units(self, unit_codes: list[str]) -> dict[str, UnitContact]: ...

    async def put(self, contact: UnitContact) -> None: ...

    async def remove(self, unit_code: str) -> bool:
        """False when there was none."""
        ...


class Templates(Protocol):
    async def texts(self, names: list[str]) -> dict[str, str]:
        """The stored texts of these templates, by name (a template never edited may have none)."""
        ...

    async def put(self, template: StoredTemplate) -> StoredTemplate:
        """Store an edited text; returns it as stored (with the time)."""
        ...


class Alerts(Protocol):
    async def add(self, alert: Alert) -> None:
        """On the live stream once per event."""
        ...


class CaseOwners(Protocol):
    async def get(self, incident_id: uuid.UUID) -> CaseOwner | None: ...

    async def replace_many(self, owners: Sequence[CaseOwner]) -> dict[uuid.UUID, CaseOwner]:
        """The cases' owners from now on (each case once; a reassignment keeps the case's category and urgency), at
        once: the owners replaced, by case (none for a case not seen before)."""
        ...


class HotlineCases(Protocol):
    async def add(self, case: HotlineCase) -> None:
        """Remember a 12345 order behind a case (nothing if it is known already)."""
        ...

    async def get(self, incident_id: uuid.UUID) -> HotlineCase | None:
        """The order behind a case, held by this unit of work (one callback of a case at a time)."""
        ...

    async def save(self, case: HotlineCase) -> None: ...


class CaseLinks(Protocol):
    """Which case's outcome each merged or duplicate case takes: the master it follows (chains to their end)."""

    async def hold(self) -> None:
        """One link at a time until commit (merges are rare): a case merged into one that is being merged
        itself finds the chain whole."""
        ...

    async def link(self, incident_id: uuid.UUID, master_id: uuid.UUID) -> None:
        """`incident_id` follows `master_id` from now on (a merge moves a duplicate's link)."""
        ...

    async def root_of(self, incident_id: uuid.UUID) -> uuid.UUID:
        """The end of the chain of masters from this case (the case itself when it follows none)."""
        ...

    async def hotline_followers(self, master_id: uuid.UUID) -> list[HotlineCase]:
        """The 12345 orders that follow this case, directly or through cases between."""
        ...


class Outcomes(Protocol):
    async def get(self, incident_id: uuid.UUID) -> CaseOutcomes:
        """A case's result and closing so far (none yet: empty), held by this unit of work: its outcome and
        a new follower's catching up never pass each other."""
        ...

    async def save(self, outcomes: CaseOutcomes) -> None: ...


class NotificationsUnitOfWork(PublishingUnitOfWork, Protocol):
    @property
    def deliveries(self) -> Deliveries: ...

    @property
    def sms_recipients(self) -> SmsRecipients: ...

    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def contacts(self) -> Contacts: ...

    @property
    def templates(self) -> Templates: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def owners(self) -> CaseOwners: ...

    @property
    def hotline_cases(self) -> HotlineCases: ...

    @property
    def case_links(self) -> CaseLinks: ...

    @property
    def outcomes(self) -> Outcomes: ...


class PgNotificationsUnitOfWork(PgUnitOfWork):
    deliveries: DeliveryRepository
    sms_recipients: SmsRecipientRepository
    subscriptions: SubscriptionRepository
    contacts: ContactRepository
    templates: TemplateRepository
    alerts: AlertRepository
    owners: CaseOwnerRepository
    hotline_cases: HotlineCaseRepository
    case_links: CaseLinkRepository
    outcomes: CaseOutcomeRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, secret_box: SecretBox) -> None:
        super().__init__(pool, SOURCE, clock)
        self._secret_box = secret_box

    def attach(self, conn: asyncpg.Connection) -> None:
        self.deliveries = DeliveryRepository(conn)
        self.sms_recipients = SmsRecipientRepository(conn)
        self.subscriptions = SubscriptionRepository(conn, self._secret_box)
        self.contacts = ContactRepository(conn)
        self.templates = TemplateRepository(conn)
        self.alerts = AlertRepository(conn)
        self.owners = CaseOwnerRepository(conn)
        self.hotline_cases = HotlineCaseRepository(conn)
        self.case_links = CaseLinkRepository(conn)
        self.outcomes = CaseOutcomeRepository(conn)
