"""Postgres side of routing: the grid registry, units, workers, rules, incidents routed and their history.

One repository per kind of thing held (service_layer/unit_of_work.py names them); the read-only queries of
the GET routes are in views.py. `RegistryCache` is each process's in-memory locator of the registry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from services.routing.domain.assignment import (
    DEFAULT_RULE,
    AssignmentKind,
    ContextKey,
    DecisionContext,
    FirstDecision,
    RoutedIncident,
    Rule,
    Unit,
    Worker,
)
from services.routing.domain.grid_import import GridFeature
from services.routing.domain.locator import GridInfo, Locator
from services.routing.domain.registry import ancestors
from services.routing.domain.roster import Roster, roster_as_dict, roster_from_dict
from shared.db.queries import Queries, array_columns
from shared.events.intake import Point
from shared.events.routing import Owner

QUERIES = Queries.load(Path(__file__).with_name("queries.sql"))


class GridRepository:
    """The grid registry: districts, streets, communities, grids and micro grids, and its version."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_registry(self) -> None:
        await self._conn.execute(QUERIES.lock_registry_version)

    async def codes(self) -> set[str]:
        return {r["code"] for r in await self._conn.fetch(QUERIES.all_grid_codes)}

    async def tiling_within(self, bounds: tuple[float, float, float, float],
                            except_codes: list[str]) -> list[tuple[str, str, BaseGeometry]]:
        """The registry's comprehensive and micro grids whose box meets `bounds`, less those the import
        replaces: (code, tiling layer, geometry)."""
        rows = await self._conn.fetch(QUERIES.tiling_grids_within, *bounds, except_codes)
        return [(r["code"], r["layer"], shapely.from_wkb(r["wkb"])) for r in rows]

    async def put(self, grids: list[GridFeature]) -> int:
        """Insert or redraw the grids; returns the registry's new version."""
        # Parents before children, so the foreign key holds inside the transaction.
        ordered = sorted(grids, key=lambda g: len(g.code))
        await self._conn.executemany(QUERIES.upsert_grid, [
            (g.code, g.name, g.level, g.kind, g.parent_code, g.dedicated_type, shapely.to_wkb(g.geometry))
            for g in ordered])
        return await self._conn.fetchval(QUERIES.bump_registry_version)


class UnitRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, unit_id: str) -> Unit | None:
        row = await self._conn.fetchrow(QUERIES.get_unit, unit_id)
        return _unit(row) if row else None

    async def known(self, unit_ids: list[str]) -> set[str]:
        """Those of the ids that name a unit."""
        return {r["id"] for r in await self._conn.fetch(QUERIES.known_unit_ids, unit_ids)}

    async def covering(self, codes: list[str]) -> list[Unit]:
        """The units whose area names one of the codes."""
        return [_unit(r) for r in await self._conn.fetch(QUERIES.units_for_codes, codes)]

    async def put(self, unit: Unit) -> None:
        await self.put_many([unit])

    async def put_many(self, units: list[Unit]) -> None:
        await self._conn.executemany(QUERIES.upsert_unit, [
            (u.id, u.kind, u.name, list(u.area), u.department) for u in units])


class WorkerRepository:
    """Workers and their duty rosters."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, worker_id: str) -> Worker | None:
        row = await self._conn.fetchrow(QUERIES.get_worker, worker_id)
        return worker_from_row(row) if row else None

    async def put(self, worker: Worker) -> None:
        """The worker's details; its roster is left as it is (`put_roster`)."""
        await self.put_many([worker])

    async def put_many(self, workers: list[Worker]) -> None:
        await self._conn.executemany(QUERIES.upsert_worker, [
            (w.id, w.name, w.phone, w.unit_id, list(w.grid_codes), w.on_duty) for w in workers])

    async def put_roster(self, worker_id: str, roster: Roster) -> None:
        stored = roster_as_dict(roster)
        await self._conn.execute(QUERIES.upsert_roster, worker_id, stored["weekly"], stored["periods"])

    async def delete_roster(self, worker_id: str) -> bool:
        """False when the worker had no roster."""
        return (await self._conn.execute(QUERIES.delete_roster, worker_id)).endswith(" 1")


class RuleRepository:
    """Category × urgency → owner (and co-owner)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def put(self, category: str, urgency: str, rule: Rule) -> None:
        await self._conn.execute(QUERIES.upsert_rule, category, urgency, rule.owner, rule.co_owner)


class DedicatedCategoryRepository:
    """Which categories each kind of dedicated grid (school, hospital, ...) handles itself."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def owns(self, dedicated_type: str | None, category: str) -> bool:
        return bool(await self._conn.fetchval(QUERIES.dedicated_owns, dedicated_type, category))

    async def replace(self, dedicated_type: str, categories: list[str]) -> None:
        await self._conn.execute(QUERIES.delete_dedicated_categories, dedicated_type)
        await self._conn.execute(QUERIES.insert_dedicated_categories, dedicated_type, categories)


class AssignmentRepository:
    """Routing's copy of each incident, who owns it now, and the history of its routing decisions."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record_firsts(self, decisions: Sequence[FirstDecision]) -> set[uuid.UUID]:
        """Routing's copies of the cases and their first decisions, in one round trip (one array element per case);
        the cases that were new: nothing is written for a case known already."""
        if not decisions:
            return set()
        rows = [(d.case.incident_id, d.at, d.kind, d.owner.unit_id if d.owner else None,
                 d.owner.worker_id if d.owner else None, d.place_code, d.reason,
                 json.dumps([o.model_dump() for o in d.co_owners], ensure_ascii=False, default=str),
                 d.case.category, d.case.urgency, d.case.location.lon if d.case.location else None,
                 d.case.location.lat if d.case.location else None, d.case.address, d.case.grid_code, d.case.at)
                for d in decisions]
        return {row["incident_id"] for row in await self._conn.fetch(QUERIES.record_first_assignments,
                                                                      *array_columns(rows))}

    async def routed(self, incident_id: uuid.UUID) -> RoutedIncident | None:
        """Routing's copy of the case, locked, with the kind of the unit that owns it now."""
        row = await self._conn.fetchrow(QUERIES.routed_incident_for_update, incident_id)
        if row is None:
            return None
        return RoutedIncident(incident_id=row["incident_id"], category=row["category"], urgency=row["urgency"],
                              place_code=row["place_code"], current_unit_id=row["current_unit_id"],
                              current_unit_kind=row["current_unit_kind"],
                              co_owners=tuple(Owner.model_validate(o) for o in row["co_owners"]),
                              closed=row["closed_at"] is not None,
                              location=Point(lon=row["lon"], lat=row["lat"]) if row["lon"] is not None else None,
                              address=row["address"], reported_grid_code=row["grid_code"])

    async def record(self, incident_id: uuid.UUID, at: datetime, kind: AssignmentKind, place_code: str | None,
                     reason: str, owner: Owner | None = None, co_owners: Sequence[Owner] = ()) -> None:
        """One decision in the history (with an owner: the case's owner and co-owners from now on); `place_code`
        is the grid, or the community/street/district when that is all that is known."""
        await self._conn.execute(QUERIES.record_assignment, incident_id, at, kind,
                                 owner.unit_id if owner else None, owner.worker_id if owner else None,
                                 place_code, reason, [o.model_dump() for o in co_owners])

    async def close(self, incident_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(QUERIES.mark_case_closed, incident_id, at)

    async def reopen(self, incident_id: uuid.UUID) -> None:
        await self._conn.execute(QUERIES.mark_case_reopened, incident_id)

    async def decision_contexts(self, keys: Sequence[ContextKey]) -> list[DecisionContext]:
        """The units of each place and above, the grid's workers, the rule: what `decide_owner` reads, in the keys'
        order. Read here, in one round trip for a run of cases, rather than from units, workers and rules: it runs
        for every incident routed."""
        if not keys:
            return []
        rows = await self._conn.fetch(
            QUERIES.decision_contexts, [",".join(ancestors(k.place_code).values()) for k in keys],
            [k.grid_code for k in keys], [k.category for k in keys], [k.urgency for k in keys])
        return [DecisionContext([Unit(u["id"], u["kind"], u["name"], tuple(u["area"]), u["department"])
                                 for u in row["units"]],
                                [worker_from_row(w) for w in row["workers"]],
                                Rule(row["rule_owner"], row["rule_co_owner"]) if row["rule_owner"] else DEFAULT_RULE)
                for row in sorted(rows, key=lambda row: row["ord"])]


def worker_from_row(row: asyncpg.Record | dict[str, Any]) -> Worker:
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
        return Locator([(GridInfo(r["code"], r["name"], r["level"], r["kind"], r["dedicated_type"]),
                         shapely.from_wkb(r["wkb"]))
                        for r in rows], version=version)
