from __future__ import annotations

import asyncpg

from services.intake.adapters.repository import IncidentRepository
from shared.db.unit_of_work import PgUnitOfWork


class IntakeUnitOfWork(PgUnitOfWork):
    incidents: IncidentRepository

    def attach(self, conn: asyncpg.Connection) -> None:
        self.incidents = IncidentRepository(conn)
