from __future__ import annotations

import asyncpg

from services.routing.adapters.repository import RegistryCache, RoutingRepository
from shared.clock import Clock
from shared.db.unit_of_work import PgUnitOfWork


class RoutingUnitOfWork(PgUnitOfWork):
    routing: RoutingRepository

    def __init__(self, pool: asyncpg.Pool, clock: Clock, registry: RegistryCache) -> None:
        super().__init__(pool, "/routing", clock)
        self.registry = registry

    def attach(self, conn: asyncpg.Connection) -> None:
        self.routing = RoutingRepository(conn)
