"""Postgres side of routing: the grid registry, units, workers, incidents routed and their history."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from services.routing.domain.assignment import DEFAULT_RULE, Rule, Unit, Worker
from services.routing.domain.grid_import import GridFeature
from services.routing.domain.locator import GridInfo, Locator
from services.routing.domain.registry import ancestors
from services.routing.domain.roster import Roster, roster_as_dict, roster_from_dict
from shared.db.queries import Queries
from shared.events.intake import IncidentReceived

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))


class RoutingRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def grid_codes(self) -> set[str]:
        return {r["code"] for r in await self._conn.fetch(QUERIES.all_grid_codes)}

    async def lock_registry(self) -> None:
        await self._conn.execute(QUERIES.lock_registry_version)

    async def tiling_grids_within(self, bounds: tuple[float, float, float, float],
                                  except_codes: list[str]) -> list[tuple[str, str, BaseGeometry]]:
        """The registry's comprehensive and micro grids whose box meets `bounds`, less those the import
        replaces: (code, tiling layer, geometry)."""
        rows = await self._conn.fetch(QUERIES.tiling_grids_within, *bounds, except_codes)
        return [(r["code"], r["layer"], shapely.from_wkb(r["wkb"])) for r in rows]

    async def import_grids(self, grids: list[GridFeature]) -> int:
        # Parents before children, so the foreign key holds inside the transaction.
        ordered = sorted(grids, key=lambda g: len(g.code))
        await self._conn.executemany(QUERIES.upsert_grid, [
            (g.code, g.name, g.level, g.kind, g.parent_code, g.dedicated_type, shapely.to_wkb(g.geometry))
            for g in ordered])
        return await self._conn.fetchval(QUERIES.bump_registry_version)

    async def put_units(self, units: list[tuple[str, str, str, list[str], str | None]]) -> None:
        await self._conn.executemany(QUERIES.upsert_unit, units)

    async def put_workers(self, workers: list[tuple[str, str, str, str | None, list[str], bool]]) -> None:
        await self._conn.executemany(QUERIES.upsert_worker, workers)

    async def put_unit(self, unit_id: str, kind: str, name: str, area: list[str], department: str | None) -> None:
        await self._conn.execute(QUERIES.upsert_unit, unit_id, kind, name, area, department)

    async def put_worker(self, worker_id: str, name: str, phone: str, unit_id: str | None,
                         grid_codes: list[str], on_duty: bool) -> None:
        await self._conn.execute(QUERIES.upsert_worker, worker_id, name, phone, unit_id, grid_codes, on_duty)

    async def units_for(self, codes: list[str]) -> list[Unit]:
        rows = await self._conn.fetch(QUERIES.units_for_codes, codes)
        return [_unit(r) for r in rows]

    async def unit(self, unit_id: str) -> Unit | None:
        row = await self._conn.fetchrow(QUERIES.get_unit, unit_id)
        return _unit(row) if row else None

    async def worker(self, worker_id: str) -> Worker | None:
        row = await self._conn.fetchrow(QUERIES.get_worker, worker_id)
        return _worker(row) if row else None

    async def put_roster(self, worker_id: str, roster: Roster) -> None:
        stored = roster_as_dict(roster)
        await self._conn.execute(QUERIES.upsert_roster, worker_id, stored["weekly"], stored["periods"])

    async def delete_roster(self, worker_id: str) -> bool:
        return (await self._conn.execute(QUERIES.delete_roster, worker_id)).endswith(" 1")

    async def rule(self, category: str, urgency: str) -> Rule:
        row = await self._conn.fetchrow(QUERIES.find_rule, category, urgency)
        return Rule(row["owner"], row["co_owner"]) if row else DEFAULT_RULE

    async def put_rule(self, category: str, urgency: str, rule: Rule) -> None:
        await self._conn.execute(QUERIES.upsert_rule, category, urgency, rule.owner, rule.co_owner)

    async def routed(self, incident_id: uuid.UUID) -> dict[str, Any] | None:
        """Routing's copy of the case, locked, with the kind of the unit that owns it now."""
        row = await self._conn.fetchrow(QUERIES.routed_incident_for_update, incident_id)
        return dict(row) if row else None

    async def workers_for(self, grid_code: str) -> list[Worker]:
        return [_worker(r) for r in await self._conn.fetch(QUERIES.workers_for_grid, grid_code)]

    async def remember(self, event: IncidentReceived) -> bool:
        """Keep routing's copy of the incident; False if it was already known."""
        loc = event.location
        status = await self._conn.execute(
            QUERIES.upsert_routed_incident, event.incident_id, event.category, event.urgency,
            loc.lon if loc else None, loc.lat if loc else None, event.address, event.grid_code, event.at)
        return status.endswith("1")

    async def record(self, incident_id: uuid.UUID, at: Any, kind: str, unit_id: str | None,
                     worker_id: str | None, place_code: str | None, reason: str) -> None:
        """One decision in the history; `place_code` is the grid, or the community/street/district when
        that is all that is known."""
        await self._conn.execute(QUERIES.record_assignment, incident_id, at, kind, unit_id, worker_id,
                                 place_code, reason)

    async def decision_context(self, place_code: str, grid_code: str | None, category: str,
                               urgency: str) -> tuple[list[Unit], list[Worker], Rule]:
        """The units of the place and above, the grid's workers, the rule: what `decide_owner` reads."""
        row = await self._conn.fetchrow(QUERIES.decision_context, list(ancestors(place_code).values()), grid_code,
                                        category, urgency)
        units = [Unit(u["id"], u["kind"], u["name"], tuple(u["area"]), u["department"]) for u in row["units"]]
        workers = [_worker(w) for w in row["workers"]]
        rule = Rule(row["rule"]["owner"], row["rule"]["co_owner"]) if row["rule"] else DEFAULT_RULE
        return units, workers, rule


def _worker(row: asyncpg.Record | dict[str, Any]) -> Worker:
    roster = None if row["weekly"] is None else roster_from_dict({"weekly": row["weekly"], "periods": row["periods"]})
    return Worker(row["id"], row["name"], row["phone"], row["unit_id"], tuple(row["grid_codes"]), row["on_duty"],
                  roster)


def _unit(row: asyncpg.Record) -> Unit:
    return Unit(row["id"], row["kind"], row["name"], tuple(row["area"]), row["department"])


class RegistryCache:
    """The in-memory locator of one process, reloaded when the registry version moves."""

    def __init__(self, pool: asyncpg.Pool, check_seconds: float = 1.0) -> None:
        self._pool = pool
        self._check_seconds = check_seconds
        self._checked_at = 0.0
        self._locator: Locator | None = None

    async def locator(self) -> Locator:
        now = time.monotonic()
        if self._locator is None or now - self._checked_at >= self._check_seconds:
            self._checked_at = now
            version = await self._pool.fetchval(QUERIES.registry_version)
            if self._locator is None or self._locator.version != version:
                self._locator = await self._load(version)
        return self._locator

    async def _load(self, version: int) -> Locator:
        rows = await self._pool.fetch(QUERIES.load_grids)
        return Locator([(GridInfo(r["code"], r["name"], r["level"], r["kind"]), shapely.from_wkb(r["wkb"]))
                        for r in rows], version=version)


async def worker_row(pool: asyncpg.Pool, worker_id: str) -> tuple[Worker, Any] | None:
    """The worker with its roster, and when the roster was last put."""
    row = await pool.fetchrow(QUERIES.get_worker, worker_id)
    return (_worker(row), row["roster_updated_at"]) if row else None


async def assignment_history(pool: asyncpg.Pool, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.assignment_history, incident_id)]


async def grid_row(pool: asyncpg.Pool, code: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(QUERIES.get_grid, code)
    return dict(row) if row else None


async def list_rules(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.list_rules)]


async def browse_grids(pool: asyncpg.Pool, *, parent: str | None, level: str | None, prefix: str | None,
                       limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(QUERIES.browse_grids, parent, level, prefix, limit)]


async def grid_geojson(pool: asyncpg.Pool, code: str, level: str | None) -> dict[str, Any]:
    return await pool.fetchval(QUERIES.grid_geojson, code, level)
