"""Composition root of routing: the one place that wires pool, clock, the registry cache, units of work, the
bus and its handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.routing.adapters.repository import RegistryCache
from services.routing.config import RoutingSettings
from services.routing.domain.grid_import import DEFAULT_OVERLAP_TOLERANCE_M2
from services.routing.service_layer.handlers import BATCH_EVENT_HANDLERS, COMMAND_HANDLERS, EVENT_HANDLERS, Registry
from services.routing.service_layer.unit_of_work import PgRoutingUnitOfWork, RoutingUnitOfWork
from shared.clock import Clock
from shared.messagebus import MessageBus
from shared.messaging.topics import INCIDENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "routing"


@dataclass(kw_only=True)
class RoutingContainer(ServiceContainer[RoutingSettings, RoutingUnitOfWork]):
    registry: RegistryCache  # this process's in-memory locator of the grid registry


def message_bus(uow: Callable[[], RoutingUnitOfWork], *, registry: Registry,
                overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2) -> MessageBus[RoutingUnitOfWork]:
    """Routing's bus; unit tests build it with fakes."""
    return MessageBus(uow, COMMAND_HANDLERS, EVENT_HANDLERS, dependencies={
        "registry": registry, "overlap_tolerance_m2": overlap_tolerance_m2}, batch_events=BATCH_EVENT_HANDLERS)


def pg_message_bus(pool: asyncpg.Pool, clock: Clock, registry: Registry | None = None,
                   overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2) -> MessageBus[RoutingUnitOfWork]:
    """The bus on Postgres units of work (bootstrap's; integration tests and benchmarks build it on their pool)."""
    return message_bus(lambda: PgRoutingUnitOfWork(pool, clock), registry=registry or RegistryCache(pool),
                       overlap_tolerance_m2=overlap_tolerance_m2)


async def bootstrap(settings: RoutingSettings) -> RoutingContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    registry = RegistryCache(pool, settings.registry_check_seconds)
    bus = pg_message_bus(pool, clock, registry, settings.overlap_tolerance_m2)
    return RoutingContainer(name=NAME, settings=settings, pool=pool, clock=clock, bus=bus, consumes=[INCIDENTS],
                            tasks=tasks, registry=registry)
