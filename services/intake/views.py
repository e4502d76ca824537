"""Intake's read models: what the GET routes show, read straight from SQL (cosmicpython's views).

Nothing here writes; every write goes through the bus (service_layer/handlers.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.adapters.repository import QUERIES, mapping_rules
from services.intake.domain.hotline import MappingRule


async def incident_view(pool: asyncpg.Pool, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """The read model of `GET /v1/incidents/{id}`: the record plus its timeline."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.get_incident, incident_id)
        if row is None:
            return None
        timeline = await conn.fetch(QUERIES.get_timeline, incident_id)
        duplicates = [r["id"] for r in await conn.fetch(QUERIES.duplicates_of, incident_id)]
    view = dict(row)
    lon, lat = view.pop("lon"), view.pop("lat")
    view["location"] = {"lon": lon, "lat": lat} if lon is not None else None
    view["timeline"] = [dict(t) for t in timeline]
    view["duplicates"] = duplicates
    return view


async def list_categories(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.list_categories)]


async def search_incidents(pool: asyncpg.Pool, *, status: str | None, category: str | None,
                           grid_prefix: str | None, since: datetime | None, until: datetime | None,
                           area: tuple[str, ...], after: tuple[datetime, uuid.UUID] | None,
                           limit: int) -> list[dict[str, Any]]:
    city_wide = "" in area
    patterns = [prefix + "%" for prefix in area if prefix.isdigit()]
    rows = await pool.fetch(QUERIES.search_incidents, status, category, grid_prefix, since, until, city_wide,
                            patterns, after[0] if after else None, after[1] if after else None, limit)
    return [dict(r) for r in rows]


async def open311_requests(pool: asyncpg.Pool, *, ids: list[uuid.UUID] | None, codes: list[str] | None,
                           start: datetime | None, end: datetime | None, statuses: list[str] | None,
                           limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(QUERIES.open311_requests, ids, codes, start, end, statuses, limit)
    return [dict(r) for r in rows]


async def hotline_mapping(pool: asyncpg.Pool) -> list[MappingRule]:
    return sorted(await mapping_rules(pool), key=lambda r: (r.kind, r.value))
