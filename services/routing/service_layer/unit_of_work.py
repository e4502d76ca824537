"""Routing's unit of work: the Protocol its handlers are typed against, and its Postgres implementation.

Repositories are named in the plural for what they hold: `grids` (the registry: its codes, its lock and
version, the import, the tiling grids an import is checked against), `units`, `workers` (with their duty
rosters), `rules` (category × urgency → owner), `dedicated_categories` (what a school, a hospital... handles
itself) and `assignments` (routing's copy of each incident, who owns it now, and the history of its routing
decisions). The in-memory locator of the registry is no repository: it is a dependency of the handlers that
place cases (handlers.py's `Registry`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import asyncpg
from shapely.geometry.base import BaseGeometry

from services.routing.adapters.repository import (
    AssignmentRepository,
    DedicatedCategoryRepository,
    GridRepository,
    RuleRepository,
    UnitRepository,
    WorkerRepository,
)
from services.routing.domain.assignment import (
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
from services.routing.domain.roster import Roster
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork, PublishingUnitOfWork
from shared.events.routing import Owner

SOURCE = "/routing"


class Grids(Protocol):
    async def lock_registry(self) -> None:
        """Held until the transaction ends: one import at a time."""
        ...

    async def codes(self) -> set[str]: ...

    async def tiling_within(self, bounds: tuple[float, float, float, float],
                            except_codes: list[str]) -> list[tuple[str, str, BaseGeometry]]:
        """The registered comprehensive and micro grids whose box meets `bounds`, but for `except_codes`:
        (code, tiling layer, geometry)."""
        ...

    async def put(self, grids: list[GridFeature]) -> int:
        """Insert or redraw the grids; returns the registry's new version."""
        ...


class Units(Protocol):
    async def get(self, unit_id: str) -> Unit | None: ...

    async def known(self, unit_ids: list[str]) -> set[str]:
        """Those of the ids that name a unit."""
        ...

    async def covering(self, codes: list[str]) -> list[Unit]:
        """The units whose area names one of the codes."""
        ...

    async def put(self, unit: Unit) -> None: ...

    async def put_many(self, units: list[Unit]) -> None: ...


class Workers(Protocol):
    async def get(self, worker_id: str) -> Worker | None:
        """The worker with its roster."""
        ...

    async def put(self, worker: Worker) -> None:
        """The worker's details; the stored roster is left as it is."""
        ...

    async def put_many(self, workers: list[Worker]) -> None: ...

    async def put_roster(self, worker_id: str, roster: Roster) -> None: ...

    async def delete_roster(self, worker_id: str) -> bool:
        """False when the worker had no roster."""
        ...


class Rules(Protocol):
    async def put(self, category: str, urgency: str, rule: Rule) -> None: ...


class DedicatedCategories(Protocol):
    async def owns(self, dedicated_type: str | None, category: str) -> bool:
        """Does a dedicated grid of this type handle this category itself?"""
        ...

    async def replace(self, dedicated_type: str, categories: list[str]) -> None: ...


class Assignments(Protocol):
    async def record_firsts(self, decisions: Sequence[FirstDecision]) -> set[uuid.UUID]:
        """Routing's copies of new cases with their first decisions (as `record`), all in one round trip, each case
        once; returns the cases that were new: nothing is written for a case known already."""
        ...

    async def routed(self, incident_id: uuid.UUID) -> RoutedIncident | None:
        """Routing's copy of the case, locked until the transaction ends."""
        ...

    async def record(self, incident_id: uuid.UUID, at: datetime, kind: AssignmentKind, place_code: str | None,
                     reason: str, owner: Owner | None = None, co_owners: Sequence[Owner] = ()) -> None:
        """One decision in the history; with an owner, the case's owner (and co-owners) from now on."""
        ...

    async def close(self, incident_id: uuid.UUID, at: datetime) -> None:
        """The case closed, merged or was rejected: no dispatch from now on (until it is reopened)."""
        ...

    async def reopen(self, incident_id: uuid.UUID) -> None: ...

    async def decision_contexts(self, keys: Sequence[ContextKey]) -> list[DecisionContext]:
        """What `decide_owner` reads for each place and case, in the keys' order (in one round trip: the hot
        path)."""
        ...


class RoutingUnitOfWork(PublishingUnitOfWork, Protocol):
    @property
    def grids(self) -> Grids: ...

    @property
    def units(self) -> Units: ...

    @property
    def workers(self) -> Workers: ...

    @property
    def rules(self) -> Rules: ...

    @property
    def dedicated_categories(self) -> DedicatedCategories: ...

    @property
    def assignments(self) -> Assignments: ...


class PgRoutingUnitOfWork(PgUnitOfWork):
    grids: GridRepository
    units: UnitRepository
    workers: WorkerRepository
    rules: RuleRepository
    dedicated_categories: DedicatedCategoryRepository
    assignments: AssignmentRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        super().__init__(pool, SOURCE, clock)

    def attach(self, conn: asyncpg.Connection) -> None:
        self.grids = GridRepository(conn)
        self.units = UnitRepository(conn)
        self.workers = WorkerRepository(conn)
        self.rules = RuleRepository(conn)
        self.dedicated_categories = DedicatedCategoryRepository(conn)
        self.assignments = AssignmentRepository(conn)
