"""The ticker: fires due lights and 督办 levels. Any number may run; SKIP LOCKED shares the work."""

from __future__ import annotations

import asyncio

import structlog

from services.supervision.service_layer.handlers import tick_due_clocks
from shared.runtime import ServiceContainer

log = structlog.get_logger("ticker")


async def run_ticker(container: ServiceContainer, stop: asyncio.Event) -> None:
    settings = container.settings
    wake = asyncio.Event()
    listen_conn = await container.pool.acquire()

    def hint(*_: object) -> None:
        wake.set()

    await listen_conn.add_listener("clock_changed", hint)
    log.info("ticker_started")
    try:
        while not stop.is_set():
            try:
                fired = await tick_due_clocks(container.uow(), settings.ticker_batch)
            except (OSError, ConnectionError) as exc:
                log.warning("ticker_db_unavailable", error=str(exc))
                fired = 0
                await asyncio.sleep(1)
            if fired < settings.ticker_batch:
                try:
                    await asyncio.wait_for(wake.wait(), timeout=settings.ticker_idle_seconds)
                except TimeoutError:
                    pass
                wake.clear()
    finally:
        await listen_conn.remove_listener("clock_changed", hint)
        await container.pool.release(listen_conn)
