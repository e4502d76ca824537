"""Composition root of intake: the one place that wires pool, clock, unit of work and handlers."""

from __future__ import annotations

from datetime import timedelta

from services.intake.adapters.repository import CategoryCache
from services.intake.config import IntakeSettings
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.service_layer.group_commit import ReportCommitter
from services.intake.service_layer.handlers import EVENT_HANDLERS
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork, ReportUnitOfWork
from shared.messaging.topics import ASSIGNMENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "intake"


IntakeContainer = ServiceContainer[IntakeSettings, IntakeUnitOfWork]


async def bootstrap(settings: IntakeSettings) -> IntakeContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    categories = CategoryCache()
    duplicates = DuplicatePolicy(settings.duplicate_radius_m, timedelta(hours=settings.duplicate_window_hours))

    def uow() -> IntakeUnitOfWork:
        return IntakeUnitOfWork(pool, clock, duplicates, categories)

    def report_uow() -> ReportUnitOfWork:
        return ReportUnitOfWork(pool, clock, duplicates, categories)

    reports = ReportCommitter(report_uow, max_batch=settings.report_batch_max,
                              concurrency=settings.report_committers)
    return IntakeContainer(
        name=NAME, settings=settings, pool=pool, clock=clock, uow=uow,
        handlers=EVENT_HANDLERS, consumes=[ASSIGNMENTS], tasks=tasks,
        extras={"reports": reports, "closers": [reports.close]},
    )
