"""Composition root of supervision (owner of the stack's virtual clock when CLOCK_MODE=virtual): the one place
that wires pool, clock, calendar, units of work, the bus and its handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.supervision.adapters.alert_outbox import ClockAlertOutbox
from services.supervision.adapters.repository import PgClockStore, stored_calendar
from services.supervision.config import SupervisionSettings
from services.supervision.domain.calendar import calendar_from
from services.supervision.service_layer.handlers import BATCH_EVENT_HANDLERS, COMMAND_HANDLERS, EVENT_HANDLERS
from services.supervision.service_layer.unit_of_work import PgSupervisionUnitOfWork, SupervisionUnitOfWork
from shared.calendar import WorkCalendar
from shared.clock import Clock
from shared.messagebus import MessageBus
from shared.messaging.topics import ASSIGNMENTS, INCIDENTS
from shared.runtime import ClockStore, ServiceContainer, build_clock, open_pool

NAME = "supervision"


@dataclass(kw_only=True)
class SupervisionContainer(ServiceContainer[SupervisionSettings, SupervisionUnitOfWork]):
    calendar: WorkCalendar  # the calendar clocks run on: the national schedule with this database's overrides
    clock_store: ClockStore  # where the virtual clock's anchor is kept


def message_bus(uow: Callable[[], SupervisionUnitOfWork], *, calendar: WorkCalendar, clock: Clock,
                clock_store: ClockStore) -> MessageBus[SupervisionUnitOfWork]:
    """Supervision's bus; unit tests build it with fakes."""
    return MessageBus(uow, COMMAND_HANDLERS, EVENT_HANDLERS, dependencies={
        "calendar": calendar, "clock": clock, "clock_store": clock_store}, batch_events=BATCH_EVENT_HANDLERS)


def pg_message_bus(pool: asyncpg.Pool, clock: Clock, calendar: WorkCalendar,
                   clock_store: ClockStore | None = None) -> MessageBus[SupervisionUnitOfWork]:
    """The bus on Postgres units of work (bootstrap's; integration tests and benchmarks build it on their pool)."""
    return message_bus(lambda: PgSupervisionUnitOfWork(pool, clock), calendar=calendar, clock=clock,
                       clock_store=clock_store or PgClockStore(pool))


async def bootstrap(settings: SupervisionSettings) -> SupervisionContainer:
    pool = await open_pool(settings)
    store = PgClockStore(pool)
    clock, tasks = await build_clock(settings, store)
    calendar = calendar_from(await stored_calendar(pool), WorkCalendar())
    tasks.append(asyncio.create_task(_follow_overrides(pool, calendar)))
    bus = pg_message_bus(pool, clock, calendar, store)
    return SupervisionContainer(name=NAME, settings=settings, pool=pool, clock=clock, bus=bus,
                                consumes=[INCIDENTS, ASSIGNMENTS], tasks=tasks, outbox=ClockAlertOutbox(),
                                calendar=calendar, clock_store=store)


async def _follow_overrides(pool: asyncpg.Pool, calendar: WorkCalendar, every_seconds: float = 30.0) -> None:
    """Another process (the API) may change a date: what this process shows (the calendar, statistics' freeze
    dates) follows within half a minute. Clocks never wait for it: their handlers bring the calendar up to date
    first (service_layer/calendar.py, refresh_calendar)."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            fresh = calendar_from(await stored_calendar(pool), calendar)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            continue
        calendar.replace_days(fresh.overrides, fresh.imported_years, fresh.holiday_names)
