"""Composition root of intake: the one place that wires pool, clock, unit of work and handlers."""

from __future__ import annotations

from datetime import timedelta

from services.intake.adapters.repository import CategoryCache
from services.intake.config import IntakeSettings
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.service_layer.handlers import EVENT_HANDLERS
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.messaging.topics import ASSIGNMENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "intake"


IntakeContainer = ServiceContainer[IntakeSettings, IntakeUnitOfWork]


async def bootstrap(settings: IntakeSettings) -> IntakeContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    categories = CategoryCache()
    duplicates = DuplicatePolicy(settings.duplicate_radius_m, timedelta(hours=settings.duplicate_window_hours))
    return IntakeContainer(
        name=NAME, settings=settings, pool=pool, clock=clock,
        uow=lambda: IntakeUnitOfWork(pool, clock, duplicates, categories),
        handlers=EVENT_HANDLERS, consumes=[ASSIGNMENTS], tasks=tasks,
    )
