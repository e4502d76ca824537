"""Composition root of supervision (owner of the stack's virtual clock when CLOCK_MODE=virtual)."""

from __future__ import annotations

import asyncio

import asyncpg

from services.supervision.adapters.alert_outbox import ClockAlertOutbox
from services.supervision.adapters.repository import PgClockStore, calendar_days
from services.supervision.config import SupervisionSettings
from services.supervision.service_layer.calendar import calendar_from
from services.supervision.service_layer.handlers import EVENT_HANDLERS
from services.supervision.service_layer.unit_of_work import SupervisionUnitOfWork
from shared.calendar import WorkCalendar
from shared.messaging.topics import ASSIGNMENTS, INCIDENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "supervision"


SupervisionContainer = ServiceContainer[SupervisionSettings, SupervisionUnitOfWork]


async def bootstrap(settings: SupervisionSettings) -> SupervisionContainer:
    pool = await open_pool(settings)
    store = PgClockStore(pool)
    clock, tasks = await build_clock(settings, store)
    calendar = calendar_from(await calendar_days(pool), WorkCalendar())
    tasks.append(asyncio.create_task(_follow_overrides(pool, calendar)))
    return SupervisionContainer(
        name=NAME, settings=settings, pool=pool, clock=clock,
        uow=lambda: SupervisionUnitOfWork(pool, clock, calendar),
        handlers=EVENT_HANDLERS, consumes=[INCIDENTS, ASSIGNMENTS], tasks=tasks,
        extras={"clock_store": store, "calendar": calendar}, outbox=ClockAlertOutbox(),
    )


async def _follow_overrides(pool: asyncpg.Pool, calendar: WorkCalendar, every_seconds: float = 30.0) -> None:
    """Another process (the API) may change a date: new clocks pick it up within half a minute."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            fresh = calendar_from(await calendar_days(pool), calendar)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            continue
        calendar.replace_days(fresh.overrides, fresh.imported_years, fresh.holiday_names)
