"""The deliverer: sends pending deliveries. Any number may run; SKIP LOCKED shares the work."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from services.notifications.service_layer.handlers import deliver_due
from shared.runtime import ServiceContainer

log = structlog.get_logger("deliverer")


async def run_deliverer(container: ServiceContainer, stop: asyncio.Event, idle_seconds: float = 0.2) -> None:
    s = container.settings
    log.info("deliverer_started")
    while not stop.is_set():
        try:
            sent = await deliver_due(container.uow(), container.extras["channels"], s.deliver_batch,
                                     s.delivery_max_attempts, s.delivery_backoff_seconds)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            log.warning("deliverer_db_unavailable", error=str(exc))
            sent = 0
        if sent < s.deliver_batch:
            try:
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
            except TimeoutError:
                pass
