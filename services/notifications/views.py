"""Read-only queries behind the HTTP API's GET routes (cosmicpython's views): rows as the API shows them,
straight from the pool. Writes go through the message bus (service_layer/handlers.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.notifications.adapters.repository import QUERIES
from shared.actor import covers


async def deliveries(pool: asyncpg.Pool, incident_id: uuid.UUID | None, channel: str | None, status: str | None,
                     limit: int, area: tuple[str, ...]) -> list[dict[str, Any]]:
    """The delivery log inside `area` (by the place of each delivery's case), oldest first."""
    patterns = [prefix + "%" for prefix in area if prefix.isdigit()]  # area codes are digits
    return [dict(r) for r in await pool.fetch(QUERIES.list_deliveries, incident_id, channel, status, limit,
                                              "" in area, patterns)]


async def alerts_after(pool: asyncpg.Pool, last_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The live stream's alerts after `last_id` (its Last-Event-ID), in order."""
    return [dict(r) for r in await pool.fetch(QUERIES.alerts_after, last_id, limit)]


async def subscription(pool: asyncpg.Pool, sub_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_subscription, sub_id)
    return dict(row) if row else None


async def subscriptions(pool: asyncpg.Pool, area: tuple[str, ...]) -> list[dict[str, Any]]:
    """The subscriptions whose whole area lies inside `area` (a subscription belongs to its area's callers)."""
    return [dict(r) for r in await pool.fetch(QUERIES.list_subscriptions)
            if all(covers(area, prefix) for prefix in r["area"])]



async def contact(pool: asyncpg.Pool, unit_code: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_contact, unit_code)
    return dict(row) if row else None


async def contacts(pool: asyncpg.Pool, prefix: str, limit: int, area: tuple[str, ...]) -> list[dict[str, Any]]:
    """The contacts under `prefix` inside `area` (a tuple of code prefixes; "" in it: the whole city)."""
    inside = None if "" in area else list(area)
    return [dict(r) for r in await pool.fetch(QUERIES.list_contacts, prefix, limit, inside)]


async def templates(pool: asyncpg.Pool) -> dict[str, dict[str, Any]]:
    """The edited texts by name (name, body, updated_by, updated_at); a template never edited has none."""
    return {r["name"]: dict(r) for r in await pool.fetch(QUERIES.list_templates)}
