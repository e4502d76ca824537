"""What every service process starts with: settings, pool, clock, background tasks, clean shutdown."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
import httpx
import structlog

from shared.clock import Clock, ClockAnchor, RealClock, VirtualClock, follow_clock_url
from shared.db.pool import create_pool
from shared.db.unit_of_work import UnitOfWork
from shared.messagebus import MessageBus
from shared.messaging.outbox import EnvelopeOutbox, OutboxTable
from shared.resilience import RideOut
from shared.settings import ServiceSettings

log = structlog.get_logger("runtime")
# The cyclic collector's young generation is collected after this many net allocations (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 7000


class ClockStore(Protocol):
    """Where the owner of the virtual clock keeps its anchor (supervision's database)."""

    async def load(self) -> ClockAnchor | None: ...

    async def save(self, anchor: ClockAnchor) -> None: ...


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
UowT = TypeVar("UowT", bound=UnitOfWork)


@dataclass(kw_only=True)
class ServiceContainer(Generic[SettingsT, UowT]):
    """The composition root's product: everything a role of a service needs, built once.

    Each service subclasses it with its own typed collaborators (intake's report committer, supervision's
    calendar, ...): routes and workers reach them by attribute, never by a string key.
    """

    name: str
    settings: SettingsT
    pool: asyncpg.Pool
    clock: Clock
    bus: MessageBus[UowT]
    consumes: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    outbox: OutboxTable = field(default_factory=EnvelopeOutbox)  # what the relay publishes from

    @property
    def uow(self) -> Callable[[], UowT]:
        return self.bus.uow

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for closer in self.closers:
            await closer()
        await self.pool.close()


def settle_heap() -> None:
    """Once a process has built what lives as long as it does (modules, schemas, routes, the pool: ~100,000
    objects), keep it out of the cyclic collector, whose full passes over it stalled the work in flight (35-90 ms
    per request in the intake API's bench); and collect the young generation after 7,000 net allocations, not 700:
    the objects of a batch of events, or of 32 requests in flight, crossed 700 every few statements. py-spy
    (--native) put 9-10 % of a consumer's CPU under load in the collector before."""
    gc.collect()  # garbage now would otherwise be frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


async def open_pool(settings: ServiceSettings) -> asyncpg.Pool:
    return await create_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max,
                             generic_plans=settings.db_generic_plans)


async def build_clock(settings: ServiceSettings, store: ClockStore | None = None,
                      real_time: Callable[[], float] = time.time) -> tuple[Clock, list[asyncio.Task[Any]]]:
    """Real clock, or the shared virtual clock: owned (with `store`) or followed over HTTP.

    The owner starts from the stored anchor when there is one, so virtual time goes on where it was, but at
    the configured `CLOCK_SPEED`: a stored anchor keeps its time, not its speed (a demo after an earlier run
    at another speed runs at the one it was started with). The re-anchored clock is stored for the others."""
    if settings.clock_mode == "real":
        return RealClock(), []
    if store is not None:
        anchor = await store.load()
        now = real_time()
        if anchor is None:
            anchor = ClockAnchor(datetime.fromtimestamp(now, UTC), now, settings.clock_speed)
            await store.save(anchor)
        elif anchor.speed != settings.clock_speed:
            anchor = ClockAnchor(anchor.at(now), now, settings.clock_speed)
            await store.save(anchor)
        owned = VirtualClock(anchor, real_time)
        return owned, [asyncio.create_task(_refresh_from_store(owned, store))]
    follower = VirtualClock(ClockAnchor(datetime.now(UTC), time.time(), settings.clock_speed))
    await _first_sync(follower, settings.clock_url)
    return follower, [asyncio.create_task(follow_clock_url(follower, settings.clock_url))]


async def _refresh_from_store(clock: VirtualClock, store: ClockStore, interval: float = 0.2) -> None:
    # Another process (the API) may have advanced the clock: pick the anchor up quickly. Postgres away: keep the
    # last anchor and wait for it (one line per outage, shared/resilience.py).
    rider = RideOut()
    while True:
        await asyncio.sleep(interval)
        try:
            anchor = await store.load()
        except Exception as exc:
            if await rider.failed(exc):
                continue
            if not isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
                raise
            log.warning("clock_refresh_failed", error=str(exc))
            continue
        rider.succeeded()
        if anchor is not None:
            clock.set_anchor(anchor)


async def _first_sync(clock: VirtualClock, url: str, attempts: int = 60) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        for _ in range(attempts):
            try:
                body = (await http.get(url)).raise_for_status().json()
                clock.set_anchor(ClockAnchor(datetime.fromisoformat(body["now"]), time.time(),
                                             float(body["speed"])))
                return
            except (httpx.HTTPError, KeyError, ValueError):
                await asyncio.sleep(0.5)
    log.warning("virtual_clock_owner_unreachable", url=url)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_until_stopped(work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    stop = stop_on_signals()
    task: asyncio.Task[None] = asyncio.create_task(work(stop))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # surface a crash as a non-zero exit
        return
    try:
        await asyncio.wait_for(task, timeout=10)
    except TimeoutError:
        task.cancel()
