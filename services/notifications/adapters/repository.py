"""Postgres side of notifications: one repository per thing it holds, rows in and out as domain models.

Read-only queries for the HTTP API (the delivery log, the alert stream, the directory...) are in
services/notifications/views.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.notifications.adapters.secret_box import SecretBox
from services.notifications.domain.alerts import Alert
from services.notifications.domain.cases import CaseOutcomes, CaseOwner, HotlineCase, Outcome
from services.notifications.domain.contacts import Person, UnitContact
from services.notifications.domain.delivery import Delivery, QuietHours
from services.notifications.domain.subscriptions import Subscription
from services.notifications.domain.templates import StoredTemplate
from shared import tracing
from shared.db.queries import Queries, array_columns

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))
_DELIVERY_COLUMNS = [f.name for f in fields(Delivery) if f.name != "events"]


class DeliveryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, d: Delivery) -> bool:
        return await self.add_many([d]) == 1

    async def add_many(self, deliveries: Sequence[Delivery]) -> int:
        """`add` for many, in one round trip and in their order; returns how many were written."""
        if not deliveries:
            return 0
        # Made while an event is applied: they keep that event's trace (tracing on), for their sends to join.
        traceparent = tracing.current_traceparent()[0] if tracing.ENABLED else None
        rows = [(d.id, d.event_id, d.event_type, d.incident_id, d.channel, d.recipient, d.address, d.body, d.urgent,
                 d.status, d.created_at, d.next_attempt_at, d.subject, d.summary, d.fallback_email, d.full_text,
                 d.traceparent or traceparent, d.due_at_once) for d in deliveries]
        row = await self._conn.fetchrow(QUERIES.insert_deliveries, *array_columns(rows))
        written: int = row["written"]
        return written

    async def claim_due(self, limit: int, now: datetime, bundling: bool) -> list[Delivery]:
        return [_delivery(r) for r in await self._conn.fetch(QUERIES.claim_due_deliveries, limit, now, bundling)]

    async def claim_sms_to_bundle(self, limit: int, now: datetime) -> list[Delivery]:
        return [_delivery(r) for r in await self._conn.fetch(QUERIES.claim_sms_to_bundle, limit, now)]

    async def form_send(self, deliveries: list[Delivery], send_id: uuid.UUID) -> None:
        await self._conn.execute(QUERIES.form_send, [d.id for d in deliveries], send_id)

    async def claim_send_members(self, lead: Delivery) -> list[Delivery]:
        return [_delivery(r) for r in await self._conn.fetch(QUERIES.claim_send_members, lead.id)]

    async def claim_sms_siblings(self, phone: str, claimed: list[uuid.UUID], until: datetime, limit: int
                                 ) -> list[Delivery]:
        rows = await self._conn.fetch(QUERIES.claim_sms_siblings, phone, claimed, until, limit)
        return [_delivery(r) for r in rows]

    async def postpone(self, deliveries: list[Delivery], until: datetime) -> None:
        await self._conn.execute(QUERIES.postpone_deliveries, [d.id for d in deliveries], until)

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await self._conn.execute(QUERIES.mark_deliveries, *array_columns(
                (d.id, d.status, d.attempts, d.last_error, d.sent_at, d.next_attempt_at, d.bundle_id)
                for d in deliveries))

    async def drop_pending_webhooks(self, recipient: str, reason: str) -> None:
        await self._conn.execute(QUERIES.drop_pending_webhooks, recipient, reason)


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(**{column: row[column] for column in _DELIVERY_COLUMNS})


class SmsRecipientRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def last_sms_at(self, phone: str) -> datetime | None:
        last: datetime | None = await self._conn.fetchval(QUERIES.last_sms_at, phone)
        return last

    async def sms_sent(self, phones: Sequence[str], at: datetime) -> None:
        if phones:
            await self._conn.execute(QUERIES.sms_sent, list(phones), at)


class SubscriptionRepository:
    """Subscriptions; their signing secrets go in and out through `box` (sealed in the table: secret_box.py)."""

    def __init__(self, conn: asyncpg.Connection, box: SecretBox) -> None:
        self._conn = conn
        self._box = box

    async def get(self, sub_id: str) -> Subscription | None:
        row = await self._conn.fetchrow(QUERIES.get_subscription, sub_id)
        return subscription_of_row(row) if row else None

    async def put(self, s: Subscription) -> None:
        quiet = {"from": s.quiet_hours.start, "to": s.quiet_hours.end} if s.quiet_hours else None
        await self._conn.execute(QUERIES.upsert_subscription, s.id, s.name, s.phone, s.email, s.webhook_url, s.role,
                                 list(s.area), list(s.event_types), list(s.levels), list(s.channels), quiet)

    async def remove(self, sub_id: str) -> bool:
        return await self._conn.fetchval(QUERIES.delete_subscription, sub_id) is not None

    async def for_event(self, event_type: str, grid_code: str | None) -> list[Subscription]:
        return [subscription_of_row(r) for r in await self._conn.fetch(QUERIES.subscribers_for, event_type, grid_code)]

    async def save_disabled(self, s: Subscription) -> None:
        await self._conn.execute(QUERIES.disable_subscription, s.id, s.disabled_at, s.disabled_reason)

    async def set_secret(self, sub_id: str, secret: str, at: datetime) -> bool:
        return await self._conn.fetchval(QUERIES.set_subscription_secret, sub_id, self._box.seal(sub_id, secret),
                                         at) is not None

    async def secrets(self, sub_ids: list[str]) -> dict[str, str]:
        found = {}
        for row in await self._conn.fetch(QUERIES.subscription_secrets, sub_ids):
            secret = self._box.open(row["id"], bytes(row["secret_sealed"]))
            if secret is not None:  # sealed under a key no longer configured: as if it had none (rotate it)
                found[row["id"]] = secret
        return found


def subscription_of_row(row: asyncpg.Record) -> Subscription:
    quiet = row["quiet_hours"]
    return Subscription(id=row["id"], name=row["name"], role=row["role"], area=tuple(row["area"]),
                        event_types=tuple(row["event_types"]), channels=tuple(row["channels"]),
                        levels=tuple(row["levels"]), phone=row["phone"], email=row["email"],
                        webhook_url=row["webhook_url"],
                        quiet_hours=QuietHours(quiet["from"], quiet["to"]) if quiet else None,
                        disabled_at=row["disabled_at"], disabled_reason=row["disabled_reason"],
                        has_secret=row["has_secret"])


class ContactRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def for_units(self, unit_codes: list[str]) -> dict[str, UnitContact]:
        if not unit_codes:
            return {}
        return {r["unit_code"]: _contact(r) for r in await self._conn.fetch(QUERIES.contacts_in, unit_codes)}

    async def put(self, c: UnitContact) -> None:
        await self._conn.execute(QUERIES.upsert_contact, c.unit_code, c.name, _person_json(c.liaison),
                                 _person_json(c.leader), _person_json(c.supervisor))

    async def remove(self, unit_code: str) -> bool:
        return await self._conn.fetchval(QUERIES.delete_contact, unit_code) is not None


def _contact(row: asyncpg.Record) -> UnitContact:
    return UnitContact(row["unit_code"], row["name"], _person(row["liaison"]), _person(row["leader"]),
                       _person(row["supervisor"]))


def _person(stored: dict[str, Any] | None) -> Person | None:
    if not stored:
        return None
    return Person(stored.get("name") or "", stored.get("phone"), stored.get("email"))


def _person_json(person: Person | None) -> dict[str, str] | None:
    """As the API took it: name, and phone and/or email (no empty keys)."""
    if person is None:
        return None
    return {key: value for key, value in asdict(person).items() if value is not None}


class TemplateRepository:
    """Stored texts, each read once per unit of work: a consumer's batch renders many notices from the same few
    templates (one query per event was a tenth of its CPU). A batch renders with the texts as of its first read,
    as if it had run a moment earlier than an edit committed meanwhile."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._read: dict[str, str | None] = {}

    async def texts(self, names: list[str]) -> dict[str, str]:
        if unread := [name for name in names if name not in self._read]:
            found = {r["name"]: r["body"] for r in await self._conn.fetch(QUERIES.templates_in, unread)}
            self._read |= {name: found.get(name) for name in unread}
        return {name: text for name in names if (text := self._read[name]) is not None}

    async def put(self, template: StoredTemplate) -> StoredTemplate:
        row = await self._conn.fetchrow(QUERIES.put_template, template.name, template.body, template.updated_by)
        self._read.pop(template.name, None)
        return StoredTemplate(row["name"], row["body"], row["updated_by"], row["updated_at"])


class AlertRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, a: Alert) -> None:
        await self._conn.execute(QUERIES.insert_alert, a.event_id, a.event_type, a.incident_id, a.grid_code,
                                 a.payload, a.created_at)


class CaseOwnerRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, incident_id: uuid.UUID) -> CaseOwner | None:
        row = await self._conn.fetchrow(QUERIES.get_owner, incident_id)
        return _owner(row) if row else None

    async def replace_many(self, owners: Sequence[CaseOwner]) -> dict[uuid.UUID, CaseOwner]:
        """The cases' owners from now on (each case once), in one round trip: the owners replaced, by case."""
        columns = [[getattr(o, f) for o in owners] for f in ("incident_id", "unit_id", "unit_name", "worker_id",
                                                               "worker_name", "worker_phone", "grid_code", "category",
                                                               "urgency", "unit_kind")]
        return {row["incident_id"]: _owner(row) for row in await self._conn.fetch(QUERIES.replace_owners, *columns)}


def _owner(row: asyncpg.Record) -> CaseOwner:
    return CaseOwner(incident_id=row["incident_id"], unit_id=row["unit_id"], unit_name=row["unit_name"],
                     unit_kind=row["unit_kind"], category=row["category"], urgency=row["urgency"],
                     grid_code=row["grid_code"], worker_id=row["worker_id"], worker_name=row["worker_name"],
                     worker_phone=row["worker_phone"])


class HotlineCaseRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, case: HotlineCase) -> None:
        await self._conn.execute(QUERIES.remember_hotline_case, case.incident_id, case.order_no)

    async def get(self, incident_id: uuid.UUID) -> HotlineCase | None:
        row = await self._conn.fetchrow(QUERIES.hotline_case, incident_id)
        return HotlineCase(row["incident_id"], row["order_no"], row["signed_sent"]) if row else None

    async def save(self, case: HotlineCase) -> None:
        await self._conn.execute(QUERIES.save_hotline_case, case.incident_id, case.signed_sent)


class CaseLinkRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def hold(self) -> None:
        await self._conn.execute(QUERIES.hold_case_links)

    async def link(self, incident_id: uuid.UUID, master_id: uuid.UUID) -> None:
        await self._conn.execute(QUERIES.link_case, incident_id, master_id)

    async def root_of(self, incident_id: uuid.UUID) -> uuid.UUID:
        root: uuid.UUID = await self._conn.fetchval(QUERIES.root_of_case, incident_id)
        return root

    async def hotline_followers(self, master_id: uuid.UUID) -> list[HotlineCase]:
        return [HotlineCase(r["incident_id"], r["order_no"], r["signed_sent"])
                for r in await self._conn.fetch(QUERIES.hotline_followers, master_id)]


class CaseOutcomeRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, incident_id: uuid.UUID) -> CaseOutcomes:
        row = await self._conn.fetchrow(QUERIES.hold_case_outcome, incident_id)
        return CaseOutcomes(incident_id, _outcome(incident_id, "result", row["result"]),
                            _outcome(incident_id, "closed", row["closed"]))

    async def save(self, outcomes: CaseOutcomes) -> None:
        await self._conn.execute(QUERIES.save_case_outcome, outcomes.incident_id, _outcome_json(outcomes.result),
                                 _outcome_json(outcomes.closed))


def _outcome(incident_id: uuid.UUID, callback: str, stored: dict[str, Any] | None) -> Outcome | None:
    if not stored:
        return None
    return Outcome(incident_id, callback, uuid.UUID(stored["event_id"]), stored["event_type"],
                   datetime.fromisoformat(stored["at"]), stored["data"])


def _outcome_json(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {"event_id": str(outcome.event_id), "event_type": outcome.event_type, "at": outcome.at.isoformat(),
            "data": outcome.data}
