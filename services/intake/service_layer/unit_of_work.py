from __future__ import annotations

import asyncpg

from services.intake.adapters.repository import CategoryCache, IncidentRepository
from services.intake.domain.duplicates import DuplicatePolicy
from shared.calendar import WorkCalendar
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork


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
