from __future__ import annotations

import asyncpg

from services.supervision.adapters.repository import SupervisionRepository
from shared.calendar import WorkCalendar
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork


class SupervisionUnitOfWork(PgUnitOfWork):
    supervision: SupervisionRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkCalendar) -> None:
        super().__init__(pool, "/supervision", clock)
        self.calendar = calendar

    def attach(self, conn: asyncpg.Connection) -> None:
        self.supervision = SupervisionRepository(conn)
