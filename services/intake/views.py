"""Intake's read models: what the GET routes show, read straight from SQL (cosmicpython's views).

Nothing here writes; every write goes through the bus (service_layer/handlers.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
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


# A text search reads the newest quarter first, then the rest (each window newest first, so the pages are the same
# as one query's): a phrase held by thousands of cases of a year fills its page from the quarter's cases instead of
# all of them being read and sorted; the rest is read only for a text the quarter did not hold 50 times, so at most
# a couple of hundred cases a year (bench/README.md, "History").
TEXT_WINDOWS = (timedelta(days=92),)


async def search_incidents(pool: asyncpg.Pool, *, status: str | None, category: str | None,
                           grid_prefix: str | None, since: datetime | None, until: datetime | None,
                           area: tuple[str, ...], after: tuple[datetime, uuid.UUID] | None,
                           limit: int, text: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """`text`: a substring of the case's title, description or address, matched as typed, case-insensitively
    (LIKE's wildcards in it taken literally), or its whole 12345 order number. `now` anchors the windows a
    text search reads in turn (TEXT_WINDOWS; without it, one query)."""
    city_wide = "" in area
    prefixes = [prefix for prefix in area if prefix.isdigit()]
    if not city_wide and len(prefixes) == 1:
        # A caller of one area (a street's supervisor): the area is the prefix when no narrower one is asked for,
        # and then the same filter twice (the planner multiplied the two, took 30,000 rows for 7 and sorted them).
        # The same rows: a prefix inside the area needs no area filter; one outside it keeps it (and finds none).
        mine = prefixes[0]
        if grid_prefix is None or mine.startswith(grid_prefix):
            grid_prefix = mine
        if grid_prefix.startswith(mine):
            city_wide = True
    patterns = [prefix + "%" for prefix in prefixes]
    contains = "%" + like_literal(text) + "%" if text else None

    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # Each search is planned for its own arguments (the prefix's level picks the index, the text's frequency
        # the plan), never as a generic plan of the prepared statement; and without JIT, whose compile costs more
        # than these reads (the cost estimates of a year's table pass jit_above_cost).
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off")
        return await _search(conn, since, until, after, limit, contains, now, status, category, grid_prefix,
                             city_wide, patterns, text.strip() if text else None)


async def _search(conn: asyncpg.Connection, since: datetime | None, until: datetime | None,
                  after: tuple[datetime, uuid.UUID] | None, limit: int, contains: str | None, now: datetime | None,
                  *args: Any) -> list[dict[str, Any]]:
    status, category, grid_prefix, city_wide, patterns, order_no = args

    async def fetch(lower: datetime | None, upper: datetime | None, count: int) -> list[dict[str, Any]]:
        args = (status, category, grid_prefix, lower, upper, city_wide, patterns, after[0] if after else None,
                after[1] if after else None, count)
        if contains is None:
            rows = await conn.fetch(QUERIES.search_incidents, *args)
        else:
            rows = await conn.fetch(QUERIES.search_incidents_by_text, *args, contains, order_no)
        return [dict(r) for r in rows]

    if contains is None or now is None:
        return await fetch(since, until, limit)
    anchor = min(t for t in (until, after[0] if after else None) if t is not None) if until or after else now
    found: list[dict[str, Any]] = []
    upper = until
    for width in (*TEXT_WINDOWS, None):
        lower = anchor - width if width is not None else None
        last = lower is None or (since is not None and lower <= since)
        if last:
            lower = since
        found += await fetch(lower, upper, limit - len(found))
        if len(found) >= limit or last:
            return found
        upper = lower
    return found


def like_literal(text: str) -> str:
    """`text` as a LIKE pattern matching itself only (backslash is LIKE's default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
