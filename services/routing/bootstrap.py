"""Composition root of routing."""

from __future__ import annotations

from services.routing.adapters.repository import RegistryCache
from services.routing.config import RoutingSettings
from services.routing.service_layer.handlers import EVENT_HANDLERS
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.messaging.topics import INCIDENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "routing"


RoutingContainer = ServiceContainer[RoutingSettings, RoutingUnitOfWork]


async def bootstrap(settings: RoutingSettings) -> RoutingContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    registry = RegistryCache(pool, settings.registry_check_seconds)
    return RoutingContainer(
        name=NAME, settings=settings, pool=pool, clock=clock,
        uow=lambda: RoutingUnitOfWork(pool, clock, registry),
        handlers=EVENT_HANDLERS, consumes=[INCIDENTS], tasks=tasks, extras={"registry": registry},
    )
