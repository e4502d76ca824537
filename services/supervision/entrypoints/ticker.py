"""The ticker: fires due lights and 督办 levels. Any number may run, each with up to `ticker_sessions` concurrent
passes; SKIP LOCKED shares the work.

One session (the leader) watches the clocks: between passes it sleeps until the next threshold falls due, at most
`ticker_idle_seconds` (a clock started meanwhile by the consumer may be due sooner); a change of the virtual clock
wakes it at once. The other sessions join only while there is a backlog (a pass came back with a full batch: a
catch-up after the ticker was away) and go back to waiting when a pass comes back short. Keeping them out of the
steady state matters at scale: every pass, even one that finds nothing, walks the head of the due index, and with
ten million open clocks (bench/supervision_ticker.py) two sessions polling side by side for the same few clocks
only doubled that work and the lag with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import Histogram

from services.supervision.bootstrap import SupervisionContainer
from services.supervision.domain.commands import FireDueClocks
from services.supervision.views import next_due_at
from shared.resilience import RideOut, Stopped, first_of, listen

log = structlog.get_logger("ticker")
LAG = Histogram("supervision_threshold_lag_seconds",
                "From the time a light or 督办 level fell due to the ticker's commit (clock seconds)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 600))


async def run_ticker(container: SupervisionContainer, stop: asyncio.Event,
                     observe: Callable[[list[float]], None] | None = None) -> None:
    """`observe` receives the lags of each committed pass (the benchmark listens; production has LAG).

    Postgres away (a restart, its recovery, a dropped connection) is waited out with backoff, in each pass and
    in the LISTEN (shared/resilience.py): the ticker never ends because of it."""
    sessions = max(1, container.settings.ticker_sessions)
    wake = asyncio.Event()     # the leader's: a change of the virtual clock
    backlog = asyncio.Event()  # set while passes come back full: the other sessions help

    def hint(*_: object) -> None:
        wake.set()

    listening = asyncio.create_task(listen(container.pool, "clock_changed", hint, stop))
    log.info("ticker_started", sessions=sessions)
    try:
        await asyncio.gather(_lead(container, stop, wake, backlog, observe),
                             *(_help(container, stop, backlog, observe) for _ in range(sessions - 1)))
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def _lead(container: SupervisionContainer, stop: asyncio.Event, wake: asyncio.Event, backlog: asyncio.Event,
                observe: Callable[[list[float]], None] | None) -> None:
    settings = container.settings
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            if await _pass(container, rider, observe):
                backlog.set()
                continue
            backlog.clear()
            await _sleep_until_due(container, wake, settings.ticker_idle_seconds, rider)
    except Stopped:
        return


async def _help(container: SupervisionContainer, stop: asyncio.Event, backlog: asyncio.Event,
                observe: Callable[[list[float]], None] | None) -> None:
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            await first_of(backlog, stop)
            while not stop.is_set() and backlog.is_set():
                if not await _pass(container, rider, observe):
                    backlog.clear()
    except Stopped:
        return


async def _pass(container: SupervisionContainer, rider: RideOut,
                observe: Callable[[list[float]], None] | None) -> bool:
    """Fire one batch; True when it was full (more may be due)."""
    batch = container.settings.ticker_batch
    due_times: list[datetime] = await rider.call(lambda: container.bus.handle(FireDueClocks(batch)))
    if due_times:
        committed = container.clock.now()
        lags = [(committed - due).total_seconds() for due in due_times]
        for lag in lags:
            LAG.observe(lag)
        if observe is not None:
            observe(lags)
    return len(due_times) >= batch


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
