"""Routing's read models: what the GET routes show, read straight from SQL (cosmicpython's views).

Nothing here writes; every write goes through the bus (service_layer/handlers.py). `GET /v1/locate` reads the
process's in-memory locator instead (the container's `registry`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.routing.adapters.repository import QUERIES, worker_from_row
from services.routing.domain.assignment import Worker
from shared.actor import Actor


async def browse_grids(pool: asyncpg.Pool, *, parent: str | None, level: str | None,
                       area: tuple[str, ...] | None, limit: int) -> list[dict[str, Any]]:
    """The registry's grids under `parent` and at `level`, those inside `area` only (None: the whole city)."""
    rows = await pool.fetch(QUERIES.browse_grids, parent, level, list(area) if area is not None else None, limit)
    return [dict(r) for r in rows]


async def grid_geojson(pool: asyncpg.Pool, code: str, level: str | Sequence[str] | None, *, simplify: float = 0.0,
                       precision: int = 7, bbox: tuple[float, float, float, float] | None = None) -> str:
    """The grid and everything under it (its code is their prefix) as one FeatureCollection, in JSON text: at these
    levels (None: all), touching `bbox` (west, south, east, north; None: anywhere), outlines simplified by
    `simplify` degrees and written with `precision` decimals. Districts, streets and communities carry `grids`: how
    many grids lie in them."""
    levels = [level] if isinstance(level, str) else list(level) if level is not None else None
    box = bbox or (None, None, None, None)
    collection: str = await pool.fetchval(QUERIES.grid_geojson, code, levels, simplify, precision, *box)
    return collection


async def registry_version(pool: asyncpg.Pool) -> int:
    """Bumped by every grid import: what an exported outline's ETag is made of."""
    version: int = await pool.fetchval(QUERIES.registry_version)
    return version


async def grid_row(pool: asyncpg.Pool, code: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_grid, code)
    return dict(row) if row else None


async def dispatchable_units(pool: asyncpg.Pool, *, caller: Actor, kind: str | None, under: str | None,
                             limit: int) -> list[dict[str, Any]]:
    """The units a caller may dispatch a case to (改派): those working inside its area (Actor.covers, as the
    dispatch itself checks), of a kind, with a code under `under`; the levels from the top, then by id."""
    patterns = None if "" in caller.area else [prefix + "%" for prefix in caller.area if prefix.isdigit()]
    rows = await pool.fetch(QUERIES.list_units, patterns, kind, under)
    return [{**dict(r), "area": list(r["area"])} for r in rows if caller.covers(r["area"])][:limit]


async def list_rules(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.list_rules)]


async def worker_row(pool: asyncpg.Pool, worker_id: str) -> tuple[Worker, datetime | None] | None:
    """The worker with its roster, and when the roster was last put (None: no roster)."""
    row = await pool.fetchrow(QUERIES.get_worker, worker_id)
    return (worker_from_row(row), row["roster_updated_at"]) if row else None


async def assignment_history(pool: asyncpg.Pool, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every routing decision on the incident, oldest first."""
    return [dict(r) for r in await pool.fetch(QUERIES.assignment_history, incident_id)]


async def dedicated_categories(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """What each kind of dedicated grid handles itself."""
    return {r["dedicated_type"]: list(r["categories"]) for r in await pool.fetch(QUERIES.dedicated_categories)}
