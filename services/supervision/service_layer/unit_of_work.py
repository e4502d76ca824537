from __future__ import annotations

from typing import Any, Self

import asyncpg

from services.supervision.adapters.alert_outbox import SOURCE
from services.supervision.adapters.repository import SupervisionRepository
from services.supervision.domain.alerts import ClockAlert, alerts_of
from services.supervision.domain.model import PhaseClock
from shared.calendar import WorkCalendar
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork
from shared.events.envelope import Envelope


class SupervisionUnitOfWork(PgUnitOfWork):
    """Supervision's events are the moves of its clocks: they go to the clock_alert table (the relay renders
    them, adapters/alert_outbox.py), in the same order as the ticker's, instead of the generic outbox."""

    supervision: SupervisionRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkCalendar) -> None:
        super().__init__(pool, SOURCE, clock)
        self.calendar = calendar
        self.alerts: list[ClockAlert] = []

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.alerts = []
        return self

    def attach(self, conn: asyncpg.Connection) -> None:
        self.supervision = SupervisionRepository(conn)

    def collect(self, aggregate: Any, cause: Envelope | None = None) -> None:
        if not isinstance(aggregate, PhaseClock):
            raise TypeError(f"supervision publishes only its clocks' moves, not {type(aggregate).__name__}'s")
        correlation_id, causation_id = cause.lineage() if cause else (None, None)
        self.alerts.extend(alerts_of(aggregate, correlation_id, causation_id))
        aggregate.events = []

    async def _commit(self) -> None:
        if self.pending:
            raise TypeError("supervision's events are clock alerts; nothing goes to the generic outbox")
        await self.supervision.add_alerts(self.alerts)
        await self._tx.commit()
