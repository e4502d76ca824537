"""Riding out the dependencies: a role waits for Postgres and Kafka to come back, it never exits because of them.

Every long-running role (API, consume, relay, ticker, deliver, resumer) goes through this one mechanism:

- `unavailable(exc)` says whether an error means a dependency is away ("postgres", "kafka") rather than a bug:
  a restart, a crash recovery ("the database system is starting up"), a terminated or dropped connection, a
  refused connect, a broker that cannot be reached. Anything else is not ours to wait out and is raised.
- `RideOut` is one loop's retrying: a capped, jittered exponential backoff between attempts (each sleep ends at
  once when the role is told to stop), reset by the first success.
- `Outage` is the process's view of one dependency: the first failure logs `<dependency>_unavailable`, the first
  success after it `<dependency>_recovered` with how long it lasted: one pair of lines per outage, however many
  loops of the process retry meanwhile, and the `dependency_up` gauge follows.
- `ride_out(step)` retries `step` until it succeeds (start-up: the pool, the producer, the consumer);
  `listen(...)` keeps a LISTEN alive across reconnects.
- The libraries retry on their own too (asyncpg's pool refilling its floor, aiokafka's clients throughout a
  broker outage, a thousand lines a minute): `QuietRetries` folds their lines into the outage's own, and
  `watch_kafka` ends a Kafka outage only aiokafka saw.

No retry library: what is needed beyond a backoff formula is the process-wide outage state and sleeps that a stop
interrupts, which a decorator-style retry (tenacity) would not give.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import structlog
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from prometheus_client import Counter, Gauge

log = structlog.get_logger("resilience")
T = TypeVar("T")

POSTGRES = "postgres"
KAFKA = "kafka"
# What an API answers while its database is away (503 with this Retry-After).
RETRY_AFTER_SECONDS = 2

DEPENDENCY_UP = Gauge("dependency_up", "1 while the dependency answers this process, 0 during an outage",
                      ["dependency"])
OUTAGES = Counter("dependency_outages_total", "Outages of a dependency seen by this process", ["dependency"])

# The server says it is away: a restart or crash recovery (57P03 "the database system is starting up" / "is
# shutting down"), the connection ended by an administrator or a fast shutdown (57P01), by the crash of another
# backend or an immediate shutdown (57P02), every connection error class (08xxx: "connection was closed in the
# middle of operation", a refused connection), and too many clients (53300).
POSTGRES_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.PostgresConnectionError, asyncpg.TooManyConnectionsError,
)
# Socket errors that mean "nobody answers there now" (ConnectionError: refused, reset, aborted, broken pipe).
_NETWORK_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ETIMEDOUT}


def unavailable(exc: BaseException, default: str = POSTGRES) -> str | None:
    """The dependency an error says is unavailable ("postgres" or "kafka"), or None when it is not that kind of
    error (a bug, a constraint, bad data: never retried here). A plain socket error is put down to `default`
    (the dependency the failing step talks to). An exception group is unavailability only when all of it is; an
    error raised `from` one that is counts as it."""
    if isinstance(exc, BaseExceptionGroup):
        found = {unavailable(inner, default) for inner in exc.exceptions}
        if not found or None in found:
            return None
        return found.pop() if len(found) == 1 else default
    if isinstance(exc, KafkaError):
        # Connection, timeout, leader moved, node not ready...: aiokafka marks what a retry may fix.
        retriable = isinstance(exc, KafkaConnectionError | KafkaTimeoutError) or bool(getattr(exc, "retriable", False))
        return KAFKA if retriable else None
    if isinstance(exc, POSTGRES_AWAY):
        return POSTGRES
    if isinstance(exc, asyncpg.InternalClientError):
        # asyncpg lost track of the protocol: in practice a server that ended the session under an idle pooled
        # connection (its FATAL read before the close: "cannot switch to state 15; another operation (2) is in
        # progress" for whoever takes the connection in between).
        return POSTGRES
    if isinstance(exc, asyncpg.InterfaceError):
        # A connection the server dropped: "connection is closed", or, once asyncpg has handed a lost connection
        # back to its pool, "connection has been released back to the pool" for whoever still held it (a unit of
        # work in the middle of its transaction). Not "pool is closed" (we are stopping) nor "another operation is
        # in progress" (a bug).
        message = str(exc)
        return POSTGRES if "connection is closed" in message or "released back to the pool" in message else None
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return default
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return default
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        return unavailable(exc.__cause__, default)
    return None


def is_transient(exc: BaseException) -> bool:
    return unavailable(exc) is not None


@dataclass(frozen=True)
class Backoff:
    """Exponential from `first` seconds, capped at `cap`, with "equal jitter": each delay is drawn between half
    its ceiling and the ceiling, so replicas that failed together do not retry together, and no retry is ever
    immediate. The cap is what bounds recovery: a role is back at most `cap` seconds after its dependency."""

    first: float = 0.1
    cap: float = 2.0
    factor: float = 2.0

    def ceiling(self, attempt: int) -> float:
        """The longest delay before retry `attempt` (1 = after the first failure)."""
        return min(self.cap, self.first * self.factor ** max(0, min(attempt - 1, 64)))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + rand() * ceiling / 2


DEFAULT_BACKOFF = Backoff()


class Outage:
    """One dependency as this process sees it: logs once when an outage starts and once when it ends."""

    def __init__(self, dependency: str, clock: Callable[[], float] = time.monotonic,
                 logger: Any = None) -> None:
        self.dependency = dependency
        self.clock = clock
        self.log = logger or log
        self.since: float | None = None  # when the outage started (clock), None while the dependency answers
        self.failures = 0
        self.recovered_at = float("-inf")
        self.went_down = asyncio.Event()  # set while the outage lasts (what a watcher waits for)
        DEPENDENCY_UP.labels(dependency).set(1)

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, began: float | None = None) -> None:
        """An attempt failed because the dependency is away. `began`: when that attempt started; an attempt
        that began before the last recovery (a request that was in flight) starts no new outage."""
        if self.since is not None:
            self.failures += 1
            return
        if began is not None and began < self.recovered_at:
            return
        self.since = self.clock()
        self.failures = 1
        self.went_down.set()
        OUTAGES.labels(self.dependency).inc()
        DEPENDENCY_UP.labels(self.dependency).set(0)
        self.log.warning(f"{self.dependency}_unavailable", error_type=type(exc).__name__, error=str(exc)[:300])

    def ok(self) -> None:
        """The dependency answered."""
        if self.since is None:
            return
        now = self.clock()
        self.log.info(f"{self.dependency}_recovered", outage_seconds=round(now - self.since, 3),
                         failed_attempts=self.failures)
        self.since = None
        self.recovered_at = now
        self.went_down.clear()
        DEPENDENCY_UP.labels(self.dependency).set(1)


class Outages(dict[str, Outage]):
    """The process's outages by dependency (tests make their own, with their clock and logger)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, logger: Any = None) -> None:
        super().__init__()
        self.clock = clock
        self.logger = logger

    def __missing__(self, dependency: str) -> Outage:
        outage = self[dependency] = Outage(dependency, self.clock, self.logger)
        return outage


PROCESS_OUTAGES = Outages()


class Stopped(Exception):
    """The role was told to stop while it waited for a dependency: end quietly."""


class RideOut:
    """The retrying of one loop: `call(step)` until it succeeds, or `failed(exc)` / `succeeded()` by hand.

    `stop` ends a backoff sleep at once (and `call`/`failed` then raise `Stopped`); `sleep`, `clock` and `rand`
    are injectable, so tests never really wait."""

    def __init__(self, *, stop: asyncio.Event | None = None, backoff: Backoff = DEFAULT_BACKOFF,
                 default: str = POSTGRES, outages: Outages | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self.stop = stop
        self.backoff = backoff
        self.default = default
        self.outages = PROCESS_OUTAGES if outages is None else outages
        self._sleep = sleep
        self.rand = rand
        self.attempt = 0  # consecutive failures
        self.failing: set[str] = set()
        self.waited = 0.0  # seconds of backoff so far (tests, benchmarks)

    async def call(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run `step` until it returns; a dependency's absence is waited out, any other error raised."""
        while True:
            if self.stop is not None and self.stop.is_set():
                raise Stopped
            began = self.outages.clock()
            try:
                result = await step()
            except Exception as exc:
                if not await self.failed(exc, began):
                    raise
                continue
            self.succeeded()
            return result

    async def failed(self, exc: BaseException, began: float | None = None) -> bool:
        """Note a failure and sleep the backoff: True when it was a dependency's absence (retry), False when it
        was not (the caller raises it). Raises `Stopped` when the role is told to stop meanwhile."""
        dependency = unavailable(exc, self.default)
        if dependency is None:
            return False
        self.failing.add(dependency)
        self.outages[dependency].failed(exc, began)
        self.attempt += 1
        await self.pause(self.backoff.delay(self.attempt, self.rand))
        return True

    def succeeded(self) -> None:
        self.attempt = 0
        if self.failing:
            for dependency in self.failing:
                self.outages[dependency].ok()
            self.failing.clear()

    async def pause(self, seconds: float) -> None:
        self.waited += seconds
        if self._sleep is not None:
            await self._sleep(seconds)
        elif self.stop is None:
            await asyncio.sleep(seconds)
        else:
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=seconds)
            except TimeoutError:
                pass
        if self.stop is not None and self.stop.is_set():
            raise Stopped


async def ride_out(step: Callable[[], Awaitable[T]], **options: Any) -> T:
    """`step()` until it succeeds, waiting out the absence of its dependencies (see `RideOut` for `options`)."""
    return await RideOut(**options).call(step)


def connection_gone(conn: asyncpg.Connection) -> bool:
    """The connection was lost (and asyncpg may have handed it back to its pool already)."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # "connection has been released back to the pool": it was lost
        return True


async def close_quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Release or close something whose connection may be gone already: an error then is no news."""
    try:
        await close()
    except Exception as exc:  # noqa: BLE001 - the resource is dead either way; a bug still shows in the log
        if unavailable(exc) is None:
            log.warning("close_failed", error_type=type(exc).__name__, error=str(exc)[:300])


async def listen(pool: asyncpg.Pool, channel: str, callback: Callable[..., object], stop: asyncio.Event,
                 backoff: Backoff = DEFAULT_BACKOFF) -> None:
    """LISTEN on `channel` with `callback` until `stop`, on a connection of its own taken again whenever the
    last one is lost. `callback()` is also called each time the listener is (re)established: a notification
    sent while nobody listened is lost, so the loop it wakes should look for itself."""
    rider = RideOut(stop=stop, backoff=backoff)

    async def connect() -> asyncpg.Connection:
        conn = await pool.acquire()
        try:
            await conn.add_listener(channel, callback)
        except BaseException as exc:
            if not isinstance(exc, asyncpg.PostgresError) and not connection_gone(conn):
                conn.terminate()  # the client lost track of it (see unavailable): not back into the pool as is
            await close_quietly(functools.partial(pool.release, conn))
            raise
        return conn

    while not stop.is_set():
        try:
            conn = await rider.call(connect)
        except Stopped:
            return
        lost = asyncio.Event()

        def on_lost(_: object, lost: asyncio.Event = lost) -> None:
            lost.set()

        conn.add_termination_listener(on_lost)
        callback()
        try:
            await first_of(lost, stop)
        finally:
            try:
                if not connection_gone(conn):  # a lost connection took its listeners with it
                    conn.remove_termination_listener(on_lost)
                    await close_quietly(functools.partial(conn.remove_listener, channel, callback))
            finally:  # even when cancelled meanwhile: the pool waits for every connection when it closes
                await close_quietly(functools.partial(pool.release, conn))


# ---- the libraries' own retries: not a line per attempt ------------------------------------------------------------

# aiokafka's lines that mean "the broker is away" (it retries by itself while a client runs).
KAFKA_AWAY_MARKERS = ("KafkaConnectionError", "Connect call failed", "Unable connect to", "Unable to bootstrap",
                      "Unable to update metadata", "Unable to request metadata", "NodeNotReadyError",
                      "RequestTimedOutError", "KafkaTimeoutError", "coordinator dead", "Connection at ")
# A library's lines lag the recovery (a retry already under way): within this many seconds of one, they open
# no new outage.
LIBRARY_LAG_SECONDS = 5.0


class QuietRetries(logging.Filter):
    """The libraries' per-attempt lines while a dependency is away, folded into the outage's own two lines.

    - asyncpg's pool refilling its floor ("Failed to restore the pool connection floor", with a traceback, every
      attempt): dropped when the error is an outage (our loops log it).
    - aiokafka, which rides out a broker outage by itself while a client runs (a consumer's fetches, heartbeats
      and commits, a producer's sends: over a thousand lines a minute): a line saying the broker is away starts
      the process's Kafka outage (`kafka_unavailable`, once) and is dropped; `watch_kafka` ends it. Its other
      warnings pass, each kind at most once every `every` seconds.

    Installed on the root handlers (aiokafka logs from many modules), so it sees every record."""

    ASYNCPG_FLOOR = "Failed to restore the pool connection floor"

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 outages: Outages | None = None) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self.outages = outages
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "asyncpg.pool" and str(record.msg).startswith(self.ASYNCPG_FLOOR):
            exc = record.exc_info[1] if record.exc_info else None
            return exc is None or unavailable(exc) is None
        if not record.name.startswith("aiokafka"):
            return True
        message = record.getMessage()
        if any(marker in message for marker in KAFKA_AWAY_MARKERS):
            outages = PROCESS_OUTAGES if self.outages is None else self.outages
            outage = outages[KAFKA]
            outage.failed(KafkaConnectionError(message), began=outage.clock() - LIBRARY_LAG_SECONDS)
            return False
        key = (record.name, str(record.msg))
        now = self.clock()
        if now - self.last.get(key, float("-inf")) < self.every:
            return False
        self.last[key] = now
        return True


def quiet_library_retries() -> None:
    """Install `QuietRetries` on the root logger's handlers (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietRetries) for f in handler.filters):
            handler.addFilter(QuietRetries())


async def watch_kafka(bootstrap: str, stop: asyncio.Event, outages: Outages | None = None,
                      backoff: Backoff = DEFAULT_BACKOFF, probe: Callable[[], Awaitable[None]] | None = None,
                      sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
    """In a role that talks to Kafka: end the process's Kafka outage (`kafka_recovered`, with its length) once the
    broker accepts connections again. aiokafka reconnects by itself; its lines started the outage (QuietRetries),
    and nothing else in the role would see the broker come back."""
    outages = PROCESS_OUTAGES if outages is None else outages
    outage = outages[KAFKA]
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")

    async def connect() -> None:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout=2)
        writer.close()
        await writer.wait_closed()

    while not stop.is_set():
        await first_of(outage.went_down, stop)
        if stop.is_set():
            return
        try:
            await RideOut(stop=stop, default=KAFKA, outages=outages, backoff=backoff, sleep=sleep).call(
                probe or connect)
        except Stopped:
            return
        outage.ok()


async def first_of(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Wait until one of `events` is set (or `timeout` seconds pass)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
