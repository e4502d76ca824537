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
from shared.resilience import RideOut, Stopped, listen

log = structlog.get_logger("ticker")
LAG = Histogram("supervision_threshold_lag_seconds",
                "From the time a light or 督办 level fell due to the ticker's commit (clock seconds)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 600))


async def run_ticker(container: SupervisionContainer, stop: asyncio.Event,
                     observe: Callable[[list[float]], None] | None = None) -> None:
    """`observe` receives the lags of each committed pass (the benchmark listens; production has LAG).

    Postgres away (a restart, its recovery, a dropped connection) is waited out with backoff, in each pass and
    in the LISTEN (shared/resilience.py): the ticker never ends because of it."""
    wakes = [asyncio.Event() for _ in range(max(1, container.settings.ticker_sessions))]

    def hint(*_: object) -> None:
        for wake in wakes:
            wake.set()

    listening = asyncio.create_task(listen(container.pool, "clock_changed", hint, stop))
    log.info("ticker_started", sessions=len(wakes))
    try:
        await asyncio.gather(*(_passes(container, stop, wake, observe) for wake in wakes))
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def _passes(container: SupervisionContainer, stop: asyncio.Event, wake: asyncio.Event,
                  observe: Callable[[list[float]], None] | None) -> None:
    settings = container.settings
    clock = container.clock
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            due_times = await rider.call(lambda: container.bus.handle(FireDueClocks(settings.ticker_batch)))
            if due_times:
                committed = clock.now()
                lags = [(committed - due).total_seconds() for due in due_times]
                for lag in lags:
                    LAG.observe(lag)
                if observe is not None:
                    observe(lags)
            if len(due_times) < settings.ticker_batch:
                await _sleep_until_due(container, wake, settings.ticker_idle_seconds, rider)
    except Stopped:
        return


async def _sleep_until_due(container: SupervisionContainer, wake: asyncio.Event, at_most: float,
                           rider: RideOut) -> None:
    clock = container.clock
    timeout = at_most
    upcoming = await rider.call(lambda: next_due_at(container.pool))
    if upcoming is not None and clock.speed > 0:
        timeout = min(at_most, max(0.0, (upcoming - clock.now()).total_seconds() / clock.speed))
    try:
        await asyncio.wait_for(wake.wait(), timeout=timeout)
    except TimeoutError:
        pass
    wake.clear()
