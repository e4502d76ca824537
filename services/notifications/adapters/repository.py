"""Postgres side of notifications: owners, deliveries, alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared.db.queries import Queries

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))


class NotificationsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def set_owner(self, incident_id: uuid.UUID, owner: Any, grid_code: str | None, category: str,
                        urgency: str) -> None:
        await self._conn.execute(QUERIES.upsert_owner, incident_id, owner.unit_id, owner.unit_name,
                                 owner.worker_id, owner.worker_name, owner.worker_phone, grid_code, category,
                                 urgency, owner.unit_kind)

    async def owner(self, incident_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._conn.fetchrow(QUERIES.get_owner, incident_id)
        return dict(row) if row else None

    async def add_delivery(self, *, event_id: uuid.UUID, event_type: str, incident_id: uuid.UUID | None,
                           channel: str, recipient: str, address: str, body: str, urgent: bool,
                           at: datetime, hold_seconds: float = 0.0, subject: str | None = None,
                           summary: str | None = None, fallback_email: str | None = None,
                           full_text: str | None = None) -> bool:
        status = await self._conn.execute(QUERIES.insert_delivery, uuid.uuid4(), event_id, event_type,
                                          incident_id, channel, recipient, address, body, urgent, at,
                                          hold_seconds, subject, summary, fallback_email, full_text)
        written = status.endswith("1")
        if written and hold_seconds <= 0:
            await self._conn.execute(QUERIES.wake_deliverers)  # delivered at commit; repeats fold into one
        return written

    async def add_alert(self, *, event_id: uuid.UUID, event_type: str, incident_id: uuid.UUID | None,
                        grid_code: str | None, payload: dict[str, Any], at: datetime) -> None:
        await self._conn.execute(QUERIES.insert_alert, event_id, event_type, incident_id, grid_code, payload, at)
        await self._conn.execute("NOTIFY alert")

    async def remember_hotline_case(self, incident_id: uuid.UUID, order_no: str) -> None:
        await self._conn.execute(QUERIES.remember_hotline_case, incident_id, order_no)

    async def hotline_case(self, incident_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self._conn.fetchrow(QUERIES.hotline_case, incident_id)
        return dict(row) if row else None

    async def mark_signed_sent(self, incident_id: uuid.UUID) -> None:
        await self._conn.execute(QUERIES.mark_signed_sent, incident_id)

    async def subscribers_for(self, event_type: str, grid_code: str | None) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._conn.fetch(QUERIES.subscribers_for, event_type, grid_code)]

    async def disable_subscription(self, sub_id: str, at: datetime, reason: str) -> None:
        await self._conn.execute(QUERIES.disable_subscription, sub_id, at, reason)

    async def drop_pending_webhooks(self, recipient: str, reason: str) -> None:
        await self._conn.execute(QUERIES.drop_pending_webhooks, recipient, reason)

    async def contacts(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        return {r["unit_code"]: dict(r) for r in await self._conn.fetch(QUERIES.contacts_in, keys)}

    async def templates(self, names: list[str]) -> dict[str, str]:
        return {r["name"]: r["body"] for r in await self._conn.fetch(QUERIES.templates_in, names)}

    async def claim_due(self, limit: int, now: datetime) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._conn.fetch(QUERIES.claim_due_deliveries, limit, now)]

    async def claim_sms_siblings(self, address: str, claimed: list[uuid.UUID], until: datetime,
                                 limit: int) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(QUERIES.claim_sms_siblings, address, claimed, until, limit)
        return [dict(r) for r in rows]

    async def postpone(self, delivery_ids: list[uuid.UUID], until: datetime) -> None:
        await self._conn.execute(QUERIES.postpone_deliveries, delivery_ids, until)

    async def last_sms_at(self, address: str) -> datetime | None:
        return await self._conn.fetchval(QUERIES.last_sms_at, address)

    async def sms_sent(self, address: str, at: datetime) -> None:
        await self._conn.execute(QUERIES.sms_sent, address, at)

    async def mark(self, delivery_id: uuid.UUID, status: str, attempts: int, error: str | None,
                   sent_at: datetime | None, next_attempt_at: datetime, bundle_id: uuid.UUID | None = None
                   ) -> None:
        await self._conn.execute(QUERIES.mark_delivery, delivery_id, status, attempts, error, sent_at,
                                 next_attempt_at, bundle_id)


async def list_deliveries(pool: asyncpg.Pool, incident_id: uuid.UUID | None, channel: str | None,
                          status: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(QUERIES.list_deliveries, incident_id, channel, status, limit)
    return [dict(r) for r in rows]


async def alerts_after(pool: asyncpg.Pool, last_id: int, limit: int = 200) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.alerts_after, last_id, limit)]


async def put_subscription(pool: asyncpg.Pool, sub_id: str, s: dict[str, Any]) -> None:
    await pool.execute(QUERIES.upsert_subscription, sub_id, s["name"], s.get("phone"), s.get("email"),
                       s.get("webhook_url"), s["role"], s["area"], s["event_types"], s["levels"], s["channels"],
                       s.get("quiet_hours"))


async def get_subscription(pool: asyncpg.Pool, sub_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_subscription, sub_id)
    return dict(row) if row else None


async def list_subscriptions(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.list_subscriptions)]


async def delete_subscription(pool: asyncpg.Pool, sub_id: str) -> bool:
    return await pool.fetchval(QUERIES.delete_subscription, sub_id) is not None


async def put_contact(pool: asyncpg.Pool, unit_code: str, c: dict[str, Any]) -> None:
    await pool.execute(QUERIES.upsert_contact, unit_code, c["name"], c.get("liaison"), c.get("leader"),
                       c.get("supervisor"))


async def get_contact(pool: asyncpg.Pool, unit_code: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_contact, unit_code)
    return dict(row) if row else None


async def list_contacts(pool: asyncpg.Pool, prefix: str, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.list_contacts, prefix, limit)]


async def delete_contact(pool: asyncpg.Pool, unit_code: str) -> bool:
    return await pool.fetchval(QUERIES.delete_contact, unit_code) is not None


async def list_templates(pool: asyncpg.Pool) -> dict[str, dict[str, Any]]:
    return {r["name"]: dict(r) for r in await pool.fetch(QUERIES.list_templates)}


async def put_template(pool: asyncpg.Pool, name: str, body: str, by: str) -> dict[str, Any]:
    return dict(await pool.fetchrow(QUERIES.put_template, name, body, by))
