from __future__ import annotations

import uuid
from typing import Self

import asyncpg

from services.intake.adapters.repository import CategoryCache, IncidentRepository
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.domain.model import Incident
from shared.calendar import WorkCalendar
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork, UnitOfWork


class IntakeUnitOfWork(PgUnitOfWork):
    incidents: IncidentRepository
    # The national schedule, for intake's own rule of thumb (the return window); supervision owns overrides.
    calendar = WorkCalendar()

    def __init__(self, pool: asyncpg.Pool, clock: Clock, duplicates: DuplicatePolicy,
                 categories: CategoryCache | None = None) -> None:
        super().__init__(pool, "/intake", clock)
        self.duplicates = duplicates
        self._categories = categories

    def attach(self, conn: asyncpg.Connection) -> None:
        self.incidents = IncidentRepository(conn, self._categories)


class ReportUnitOfWork(IntakeUnitOfWork):
    """New reports, taken in without a transaction around them: the cases, timelines, idempotency keys and outbox
    rows added here go to Postgres at commit as ONE statement, atomic by itself. That saves BEGIN and COMMIT, two
    of the four round trips of a batch of reports. The reads before it (categories, duplicates) see what a read
    committed transaction would see, since each of its statements takes a fresh snapshot anyway."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, duplicates: DuplicatePolicy,
                 categories: CategoryCache | None = None) -> None:
        super().__init__(pool, clock, duplicates, categories)
        self._cases: list[Incident] = []
        self._claims: list[tuple[str, str, str, uuid.UUID]] = []
        self.stored: set[uuid.UUID] = set()  # after commit: the cases written (not those whose key was held)

    def add_cases(self, incidents: list[Incident], claims: list[tuple[str, str, str, uuid.UUID]]) -> None:
        """Cases to write at commit, with the (scope, key, fingerprint, case) idempotency keys they claim."""
        self._cases += incidents
        self._claims += claims

    async def __aenter__(self) -> Self:
        await UnitOfWork.__aenter__(self)  # PgUnitOfWork's would open a transaction
        self._cases, self._claims, self.stored = [], [], set()
        self.conn = await self._pool.acquire()
        self.attach(self.conn)
        return self

    async def _commit(self) -> None:
        self.stored = await self.incidents.insert_cases(self._cases, self._claims, self.pending)
