"""The ticker: fires due lights and 督办 levels. Any number may run, each with `ticker_sessions` concurrent
passes; SKIP LOCKED shares the work.

Between passes it sleeps until the next threshold falls due, at most `ticker_idle_seconds` (a clock
started meanwhile by the consumer may be due sooner); a change of the virtual clock wakes it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from prometheus_client import Histogram

from services.supervision.bootstrap import SupervisionContainer
from services.supervision.domain.commands import FireDueClocks
from services.supervision.views import next_due_at

log = structlog.get_logger("ticker")
LAG = Histogram("supervision_threshold_lag_seconds",
                "From the time a light or 督办 level fell due to the ticker's commit (clock seconds)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 600))


async def run_ticker(container: SupervisionContainer, stop: asyncio.Event,
                     observe: Callable[[list[float]], None] | None = None) -> None:
    """`observe` receives the lags of each committed pass (the benchmark listens; production has LAG)."""
    wakes = [asyncio.Event() for _ in range(max(1, container.settings.ticker_sessions))]
    listen_conn = await container.pool.acquire()

    def hint(*_: object) -> None:
        for wake in wakes:
            wake.set()

    await listen_conn.add_listener("clock_changed", hint)
    log.info("ticker_started", sessions=len(wakes))
    try:
        await asyncio.gather(*(_passes(container, stop, wake, observe) for wake in wakes))
    finally:
        await listen_conn.remove_listener("clock_changed", hint)
        await container.pool.release(listen_conn)


async def _passes(container: SupervisionContainer, stop: asyncio.Event, wake: asyncio.Event,
                  observe: Callable[[list[float]], None] | None) -> None:
    settings = container.settings
    clock = container.clock
    while not stop.is_set():
        try:
            due_times = await container.bus.handle(FireDueClocks(settings.ticker_batch))
        except (OSError, ConnectionError) as exc:
            log.warning("ticker_db_unavailable", error=str(exc))
            due_times = []
            await asyncio.sleep(1)
        if due_times:
            committed = clock.now()
            lags = [(committed - due).total_seconds() for due in due_times]
            for lag in lags:
                LAG.observe(lag)
            if observe is not None:
                observe(lags)
        if len(due_times) < settings.ticker_batch:
            await _sleep_until_due(container, wake, settings.ticker_idle_seconds)


async def _sleep_until_due(container: SupervisionContainer, wake: asyncio.Event, at_most: float) -> None:
    clock = container.clock
    timeout = at_most
    try:
        upcoming = await next_due_at(container.pool)
    except (OSError, ConnectionError):
        upcoming = None
    if upcoming is not None and clock.speed > 0:
        timeout = min(at_most, max(0.0, (upcoming - clock.now()).total_seconds() / clock.speed))
    try:
        await asyncio.wait_for(wake.wait(), timeout=timeout)
    except TimeoutError:
        pass
    wake.clear()
