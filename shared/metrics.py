"""Prometheus metrics of the worker roles, and how Prometheus reaches them.

An API serves its metrics on its own port (`GET /metrics`, shared/health.py). The worker roles (consume, relay,
ticker, deliver, resumer, fetcher) serve no HTTP; with `<SERVICE>_METRICS_PORT` set (0, the default: off) each
serves the Prometheus text format on `<SERVICE>_HTTP_HOST:<SERVICE>_METRICS_PORT/metrics` (prometheus_client's own
server, in a thread; shared/cli.py starts it for every worker role). One process per pod (deploy/k8s): every
worker pod sets the same port. On one machine (deploy/local) give each role its own port, or leave it off. A taken
port is logged and the role goes on without it: metrics never stop a role.

What the worker roles measure only while they serve metrics (nobody reads them otherwise):
- consume: `consumer_lag_records` per topic and partition it owns (the broker's highwater minus the consumer's
  position, every LAG_EVERY_SECONDS; a partition it loses drops out), `consumer_dead_letters` (unreplayed rows,
  one count every DEAD_LETTERS_EVERY_SECONDS).
- relay: `outbox_oldest_unsent_age_seconds` (the oldest unsent row, one indexed query every
  OUTBOX_AGE_EVERY_SECONDS, in a task of its own: it keeps growing while a Kafka outage holds the relay).
Always counted (no query): `consumer_events_total` by outcome (applied, duplicate, ignored, parked).

The alert rules and the dashboard that read these are in deploy/observability/; tests/unit/test_observability.py
holds them to the metrics registered here and in shared/health.py, shared/resilience.py and the services.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import structlog
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import Counter, Gauge, start_http_server

log = structlog.get_logger("metrics")

LAG_EVERY_SECONDS = 5.0
DEAD_LETTERS_EVERY_SECONDS = 30.0
OUTBOX_AGE_EVERY_SECONDS = 5.0

CONSUMER_LAG = Gauge("consumer_lag_records", "Records on the broker this consumer has not taken yet "
                     "(highwater - position), per partition it owns", ["consumer", "topic", "partition"])
CONSUMER_EVENTS = Counter("consumer_events_total", "Events a consumer went through, by outcome "
                          "(applied, duplicate, ignored, parked)", ["consumer", "outcome"])
DEAD_LETTERS = Gauge("consumer_dead_letters", "Parked events not replayed yet (dead_letter rows)", ["consumer"])
OUTBOX_AGE = Gauge("outbox_oldest_unsent_age_seconds",
                   "Age of the oldest outbox row not published yet (0: none waiting)", ["service"])

# Whether this process serves its metrics (set by serve_metrics; the samplers only run then).
SERVING = False


def serve_metrics(port: int, host: str = "127.0.0.1",
                  start: Callable[..., Any] = start_http_server) -> bool:
    """Serve this process's metrics on host:port (0: not at all). True when serving."""
    global SERVING
    if not port:
        return False
    try:
        start(port, addr=host)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error("metrics_port_taken", host=host, port=port,
                  hint="each process on one machine needs its own METRICS_PORT")
        return False
    SERVING = True
    log.info("metrics_serving", host=host, port=port)
    return True


def count_events(consumer: str, outcomes: list[str]) -> None:
    for outcome in set(outcomes):
        CONSUMER_EVENTS.labels(consumer, outcome).inc(outcomes.count(outcome))


# ---- consume ------------------------------------------------------------------------------------------------------

class LagSource(Protocol):
    """What a consumer client tells about its partitions (aiokafka's AIOKafkaConsumer)."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    async def position(self, partition: TopicPartition) -> int: ...


class ConsumerLag:
    """The lag of one consumer's partitions. `note(client)` reads what the client knows (the highwater comes with
    each fetch response: no request of its own); partitions it no longer owns are dropped, so that after a
    rebalance only their new owner reports them."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self.reported: set[TopicPartition] = set()

    async def note(self, client: LagSource, timeout: float = 1.0) -> None:
        owned = set(client.assignment())
        for tp in sorted(owned):
            try:
                highwater = client.highwater(tp)
                position = await asyncio.wait_for(client.position(tp), timeout)
            except (AssertionError, IllegalStateError, TimeoutError, KafkaError):
                owned.discard(tp)  # unassigned meanwhile, or no position yet
                continue
            if highwater is None:
                owned.discard(tp)  # nothing fetched from it yet
                continue
            CONSUMER_LAG.labels(self.consumer, tp.topic, str(tp.partition)).set(max(0, highwater - position))
        for tp in self.reported - owned:
            try:
                CONSUMER_LAG.remove(self.consumer, tp.topic, str(tp.partition))
            except KeyError:
                pass
        self.reported = owned

    def forget(self) -> None:
        for tp in self.reported:
            try:
                CONSUMER_LAG.remove(self.consumer, tp.topic, str(tp.partition))
            except KeyError:
                pass
        self.reported = set()


class WatchedClients:
    """The consumer clients a consume role makes (a fresh one per start attempt): `track` wraps the factory's
    product so the samplers read the one running."""

    def __init__(self) -> None:
        self.current: LagSource | None = None

    def track(self, client: Any) -> Any:
        self.current = client
        return client


async def count_dead_letters(pool: asyncpg.Pool, consumer: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM dead_letter WHERE consumer = $1 AND replayed_at IS NULL", consumer)
    DEAD_LETTERS.labels(consumer).set(count)
    return count


async def sample_consumer(consumer: str, pool: asyncpg.Pool, clients: WatchedClients, stop: asyncio.Event,
                          lag_every: float = LAG_EVERY_SECONDS,
                          dead_letters_every: float = DEAD_LETTERS_EVERY_SECONDS) -> None:
    """Until `stop`: the lag of the running client's partitions, and now and then the dead letters. A failure
    (the database or the broker away) leaves the last values; the role's own loops report the outage."""
    lag = ConsumerLag(consumer)
    counted_at = float("-inf")
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            if clients.current is not None:
                try:
                    await lag.note(clients.current)
                except Exception as exc:  # noqa: BLE001 - a metric never ends the role
                    log.debug("lag_sample_failed", error=repr(exc)[:200])
            if loop.time() - counted_at >= dead_letters_every:
                try:
                    await count_dead_letters(pool, consumer)
                    counted_at = loop.time()
                except Exception as exc:  # noqa: BLE001
                    log.debug("dead_letter_count_failed", error=repr(exc)[:200])
            await _wait(stop, lag_every)
    finally:
        lag.forget()


# ---- relay --------------------------------------------------------------------------------------------------------

class AgedOutbox(Protocol):
    async def oldest_unsent_age(self, conn: asyncpg.Connection) -> float | None: ...


async def note_outbox_age(pool: asyncpg.Pool, table: AgedOutbox, service: str) -> float:
    async with pool.acquire() as conn:
        age = await table.oldest_unsent_age(conn)
    OUTBOX_AGE.labels(service).set(age or 0.0)
    return age or 0.0


async def sample_outbox(service: str, pool: asyncpg.Pool, table: AgedOutbox, stop: asyncio.Event,
                        every: float = OUTBOX_AGE_EVERY_SECONDS) -> None:
    """Until `stop`: the age of the oldest unsent row, one indexed query each `every` seconds. Its own task, not
    the relay's loop: while Kafka is away the relay waits on a send, and the age has to keep growing then."""
    while not stop.is_set():
        try:
            await note_outbox_age(pool, table, service)
        except Exception as exc:  # noqa: BLE001 - a metric never ends the role
            log.debug("outbox_age_failed", error=repr(exc)[:200])
        await _wait(stop, every)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
