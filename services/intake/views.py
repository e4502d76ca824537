"""Intake's read models: what the GET routes show, read straight from SQL (cosmicpython's views).

Nothing here writes; every write goes through the bus (service_layer/handlers.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.intake.adapters.repository import QUERIES, mapping_rules, to_attachment
from services.intake.domain.attachments import Attachment
from services.intake.domain.hotline import MappingRule
from shared.actor import Actor


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


def visible_to(caller: Actor, case: dict[str, Any]) -> bool:
    """Whether a caller may read a case (404 otherwise): its owner unit, or a caller whose area holds its grid. A
    case not yet placed belongs to the centre: only city-wide callers see it."""
    owner = case.get("owner") or {}
    if caller.unit and caller.unit == owner.get("unit_id"):
        return True
    return caller.sees(case["grid_code"]) if case["grid_code"] else "" in caller.area


async def case_visibility(pool: asyncpg.Pool, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """What `visible_to` needs of a case (its grid and owners), without the rest of the record."""
    row = await pool.fetchrow(QUERIES.incident_visibility, incident_id)
    return dict(row) if row else None


async def attachments_of(pool: asyncpg.Pool, incident_id: uuid.UUID) -> list[Attachment]:
    return [to_attachment(r) for r in await pool.fetch(QUERIES.attachments_of_case, incident_id)]


async def attachment_of(pool: asyncpg.Pool, incident_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment | None:
    row = await pool.fetchrow(QUERIES.attachment_of_case, incident_id, attachment_id)
    return to_attachment(row) if row else None


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


CENTRE_QUEUES = ("unplaced", "final_dispatch", "to_complete", "to_merge", "dispatch")  # IncidentUnroutable.queue
PENDING = ("extension", "suspension")


async def queued_incidents(pool: asyncpg.Pool, *, queue: str, category: str | None, grid_prefix: str | None,
                           area: tuple[str, ...], after: tuple[datetime, uuid.UUID] | None,
                           limit: int) -> list[dict[str, Any]]:
    """The centre's queues, newest first: `centre` (every case routing handed to the centre and no one has taken
    since) or one of CENTRE_QUEUES, each row with its queue, why and since when; or the requests awaiting its
    decision (`extension`, `suspension`)."""
    city_wide = "" in area
    patterns = [prefix + "%" for prefix in area if prefix.isdigit()]
    args = (category, grid_prefix, city_wide, patterns, after[0] if after else None, after[1] if after else None,
            limit)
    if queue in PENDING:
        return [dict(r) for r in await pool.fetch(QUERIES.pending_incidents, queue, *args)]
    rows = await pool.fetch(QUERIES.centre_queue_incidents, None if queue == "centre" else queue, *args)
    out = []
    for row in rows:
        item = dict(row)
        item["queue"] = {"kind": item.pop("queue"), "reason": item.pop("queue_reason"), "since": item.pop("queued_at")}
        out.append(item)
    return out


async def open311_requests(pool: asyncpg.Pool, *, ids: list[uuid.UUID] | None, codes: list[str] | None,
                           start: datetime | None, end: datetime | None, statuses: list[str] | None,
                           limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(QUERIES.open311_requests, ids, codes, start, end, statuses, limit)
    return [dict(r) for r in rows]


async def hotline_mapping(pool: asyncpg.Pool) -> list[MappingRule]:
    return sorted(await mapping_rules(pool), key=lambda r: (r.kind, r.value))
