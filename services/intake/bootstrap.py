"""Composition root of intake: the one place that wires pool, clock, units of work, the bus and its handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.intake.adapters.repository import CategoryCache
from services.intake.config import IntakeSettings
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.service_layer.group_commit import ReportCommitter
from services.intake.service_layer.handlers import COMMAND_HANDLERS, EVENT_HANDLERS, ReportQueue
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork, PgIntakeUnitOfWork, PgReportUnitOfWork
from shared.calendar import WorkCalendar
from shared.messagebus import MessageBus
from shared.messaging.topics import ASSIGNMENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "intake"


@dataclass(kw_only=True)
class IntakeContainer(ServiceContainer[IntakeSettings, IntakeUnitOfWork]):
    reports: ReportCommitter  # this process's group committer of new reports


def message_bus(uow: Callable[[], IntakeUnitOfWork], *, reports: ReportQueue, duplicates: DuplicatePolicy,
                open311_dev_key: str = "", open311_per_minute: int = 30,
                calendar: WorkCalendar | None = None) -> MessageBus[IntakeUnitOfWork]:
    """Intake's bus; unit tests build it with fakes. The calendar is the national schedule, for intake's own rule
    of thumb (the window to return a signed case); supervision owns the overrides that clocks run on."""
    return MessageBus(uow, COMMAND_HANDLERS, EVENT_HANDLERS, dependencies={
        "reports": reports, "duplicates": duplicates, "open311_dev_key": open311_dev_key,
        "open311_per_minute": open311_per_minute, "calendar": calendar or WorkCalendar()})


async def bootstrap(settings: IntakeSettings) -> IntakeContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    categories = CategoryCache()
    duplicates = DuplicatePolicy(settings.duplicate_radius_m, timedelta(hours=settings.duplicate_window_hours))
    reports = ReportCommitter(lambda: PgReportUnitOfWork(pool, clock, categories), duplicates,
                              max_batch=settings.report_batch_max, concurrency=settings.report_committers)
    bus = message_bus(lambda: PgIntakeUnitOfWork(pool, clock, categories), reports=reports, duplicates=duplicates,
                      open311_dev_key=settings.open311_dev_key.get_secret_value(),
                      open311_per_minute=settings.open311_requests_per_minute)
    return IntakeContainer(name=NAME, settings=settings, pool=pool, clock=clock, bus=bus, consumes=[ASSIGNMENTS],
                           tasks=tasks, closers=[reports.close], reports=reports)
