from __future__ import annotations

import asyncpg

from services.intake.adapters.repository import IncidentRepository
from shared.calendar import WorkCalendar
from shared.db.unit_of_work import PgUnitOfWork


class IntakeUnitOfWork(PgUnitOfWork):
    incidents: IncidentRepository
    # The national schedule, for intake's own rule of thumb (the return window); supervision owns overrides.
    calendar = WorkCalendar()

    def attach(self, conn: asyncpg.Connection) -> None:
        self.incidents = IncidentRepository(conn)
