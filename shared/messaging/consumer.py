"""The consumer loop: apply each event once, in a transaction with its inbox row; offsets are committed after.

A partition's records are applied in order, up to TRANSACTION_BATCH per transaction (one commit for the
lot). A run of consecutive events of one type, each of another case, goes through the type's batch handler when it
has one (one statement per step for the run instead of one per event). If anything in a batch fails, it is rolled
back and its records are applied one by one, each through its one-event handler. A case's events share a
partition. The partitions of a big poll are applied side by side (one connection each); a small poll's records,
at most TRANSACTION_BATCH, go in one transaction, partition after partition, so a moderate load, an event or two
per partition, still commits once per poll.

A handler error is retried a bounded number of times and then the event is parked in `dead_letter`
with the error, so one poison event never stops the partition. Infrastructure errors (database or
broker unreachable) are not the event's fault: the loop waits them out (shared/resilience.py) without parking.

While tracing is on (shared/tracing.py), each event is applied in a span whose parent is its envelope's
`traceparent`, one per event also within a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared import tracing
from shared.db.unit_of_work import UnitOfWork
from shared.events import Envelope, parse_event
from shared.messagebus import BatchEventHandler, EventHandler
from shared.messaging import inbox
from shared.metrics import count_events
from shared.resilience import KAFKA, RideOut, Stopped, close_quietly, ride_out

log = structlog.get_logger("consumer")
# Records applied per transaction, at most (a partition's, or a small poll's of every partition): one commit, one
# WAL flush, for many events.
TRANSACTION_BATCH = 100
# Seconds between offset commits while events flow (PendingOffsets says why not after every poll).
COMMIT_INTERVAL = 1.0

# Two transactions in each other's way: not the event's fault either; retried at once, never counted.
CONFLICTS: tuple[type[BaseException], ...] = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


@dataclass(frozen=True)
class Incoming:
    """A raw record, whatever its source (Kafka, the dead-letter table)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: str


class EventProcessor:
    """Applies one incoming record through the inbox; shared by the Kafka loop and dead-letter replay."""

    def __init__(self, name: str, handlers: Mapping[str, EventHandler],
                 uow_factory: Callable[[], UnitOfWork], pool: asyncpg.Pool | None,
                 max_attempts: int = 3, backoff_seconds: float = 0.2,
                 batch_handlers: Mapping[str, BatchEventHandler] | None = None) -> None:
        self.name = name
        self.handlers = handlers
        self.batch_handlers = batch_handlers or {}
        self.uow_factory = uow_factory
        self.pool = pool
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.applied = 0
        self.parked = 0
        # Set by the loop that runs it: ends a wait for the database when the role stops (raises Stopped).
        self.stop: asyncio.Event | None = None

    def _rider(self) -> RideOut:
        return RideOut(stop=self.stop)

    async def process(self, record: Incoming) -> str:
        """Returns 'applied', 'duplicate', 'ignored' or 'parked'."""
        try:
            envelope = Envelope.model_validate_json(record.value)
        except ValidationError as exc:
            await self._park(record, None, f"not a CloudEvents envelope: {exc}", attempts=1)
            return "parked"
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return "ignored"  # another consumer's business
        attempt = 0
        rider = self._rider()
        while True:
            attempt += 1
            try:
                outcome = await self._apply_once(handler, envelope)
            except CONFLICTS as exc:
                attempt -= 1
                log.info("consumer_conflict_retry", consumer=self.name, error=str(exc))
                await asyncio.sleep(self.backoff)
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then parked
                if await rider.failed(exc):
                    attempt -= 1  # the database is away, not the event's fault: wait for it, don't count it
                    continue
                log.warning("consumer_handler_error", consumer=self.name, event_id=str(envelope.id),
                            event_type=envelope.type, attempt=attempt, error=repr(exc))
                if attempt >= self.max_attempts:
                    await self._park(record, envelope, repr(exc), attempts=attempt)
                    return "parked"
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            else:
                rider.succeeded()
                return outcome

    async def process_many(self, records: list[Incoming]) -> list[str]:
        """Apply records in order in ONE transaction (one commit, one WAL flush, for the lot).
        Any failure rolls the whole batch back and the records go again one by one through `process`,
        which retries, waits out the infrastructure or parks, exactly as if there were no batch."""
        if len(records) < 2:
            return [await self.process(record) for record in records]
        rider = self._rider()
        while True:
            try:
                outcomes = await self._apply_batch(records)
            except Exception as exc:  # noqa: BLE001 - nothing was committed
                if await rider.failed(exc):
                    continue  # the database is away: the same batch again once it is back
                log.info("consumer_batch_fallback", consumer=self.name, records=len(records),
                         error=repr(exc)[:200])
                return [await self.process(record) for record in records]  # sort it out record by record
            rider.succeeded()
            self.applied += outcomes.count("applied")
            return outcomes

    async def _apply_batch(self, records: list[Incoming]) -> list[str]:
        outcomes: list[str] = []
        envelopes = [Envelope.model_validate_json(record.value) for record in records]
        async with self.uow_factory() as uow:
            # The batch's cases locked and its inbox rows written in one statement (not a round trip per event).
            handled = [e for e in envelopes if e.type in self.handlers]
            fresh = await uow.first_deliveries(self.name, [e.id for e in handled], [e.subject for e in handled])
            to_apply: list[tuple[Any, Envelope]] = []
            for envelope in envelopes:
                if envelope.type not in self.handlers:
                    outcomes.append("ignored")
                elif envelope.id not in fresh:
                    outcomes.append("duplicate")
                else:
                    fresh.discard(envelope.id)  # a second copy later in the same batch is a duplicate
                    to_apply.append((parse_event(envelope), envelope))
                    outcomes.append("applied")
            for run in _runs_of_one_type(to_apply):
                batch_handler = self.batch_handlers.get(run[0][1].type)
                if batch_handler is not None and len(run) > 1 and not tracing.ENABLED:
                    await batch_handler(run, uow)
                    continue
                # Traced, each event is applied in the trace it came in (a run shares no one span).
                for event, envelope in run:
                    with tracing.event_span(self.name, envelope):
                        await self.handlers[envelope.type](event, envelope, uow)
            await uow.commit()
        return outcomes

    async def _apply_once(self, handler: EventHandler, envelope: Envelope) -> str:
        with tracing.event_span(self.name, envelope):
            return await self._apply_once_traced(handler, envelope)

    async def _apply_once_traced(self, handler: EventHandler, envelope: Envelope) -> str:
        async with self.uow_factory() as uow:
            if not await uow.first_delivery(self.name, envelope.id):
                return "duplicate"
            event = parse_event(envelope)
            await handler(event, envelope, uow)
            await uow.commit()
        self.applied += 1
        return "applied"

    async def _park(self, record: Incoming, envelope: Envelope | None, error: str, attempts: int) -> None:
        self.parked += 1
        log.error("event_parked", consumer=self.name, topic=record.topic, partition=record.partition,
                  offset=record.offset, error=error[:500])
        pool = self.pool
        if pool is None:
            return

        async def park() -> None:
            async with pool.acquire() as conn:
                await inbox.park(conn, consumer=self.name, topic=record.topic, partition=record.partition,
                                 offset=record.offset, event_id=envelope.id if envelope else None,
                                 event_type=envelope.type if envelope else None, key=record.key,
                                 payload=record.value, error=error, attempts=attempts)

        await self._rider().call(park)

    async def replay_parked(self, dead_letter_id: int | None = None) -> list[tuple[int, str]]:
        """Run parked events through the handlers again; returns (dead letter id, outcome) pairs."""
        assert self.pool is not None
        rows = await self.pool.fetch(
            """SELECT id, topic, kafka_partition, kafka_offset, key, payload FROM dead_letter
                WHERE consumer = $1 AND replayed_at IS NULL AND ($2::bigint IS NULL OR id = $2)
                ORDER BY id""", self.name, dead_letter_id)
        outcomes = []
        for row in rows:
            record = Incoming(row["topic"], row["kafka_partition"], row["kafka_offset"], row["key"],
                              row["payload"])
            try:
                envelope = Envelope.model_validate_json(record.value)
                handler = self.handlers.get(envelope.type)
                outcome = "ignored" if handler is None else await self._apply_once(handler, envelope)
            except Exception as exc:  # noqa: BLE001 - report and keep it parked
                outcomes.append((row["id"], f"still failing: {exc!r}"))
                await self.pool.execute("UPDATE dead_letter SET error = $2, attempts = attempts + 1 "
                                        "WHERE id = $1", row["id"], repr(exc)[:4000])
                continue
            await self.pool.execute("UPDATE dead_letter SET replayed_at = now() WHERE id = $1", row["id"])
            outcomes.append((row["id"], outcome))
        return outcomes


def _runs_of_one_type(events: list[tuple[Any, Envelope]]) -> list[list[tuple[Any, Envelope]]]:
    """The (event, envelope) pairs cut, in order, into runs of consecutive events of one type, each naming a case
    once: a second event of a case (a re-published one) starts the next run, so a batch handler never meets a case
    it changed in the same call."""
    runs: list[list[tuple[Any, Envelope]]] = []
    cases: set[str] = set()
    for event, envelope in events:
        case = str(getattr(event, "incident_id", envelope.subject))
        if runs and runs[-1][0][1].type == envelope.type and case not in cases:
            runs[-1].append((event, envelope))
        else:
            runs.append([(event, envelope)])
            cases.clear()
        cases.add(case)
    return runs


async def run_consumer(consumer: AIOKafkaConsumer | Callable[[], AIOKafkaConsumer], processor: EventProcessor,
                       stop: asyncio.Event, commit_interval: float = COMMIT_INTERVAL) -> None:
    """Poll, apply each record in order; commit the partitions' offsets once applied (at most every COMMIT_INTERVAL).

    `consumer`: the client, or what makes one (then a fresh one per start attempt). A broker or database that is
    away, at start or later, is waited for until `stop`; the loop never ends because of it."""
    processor.stop = stop

    async def start() -> AIOKafkaConsumer:
        client = consumer if isinstance(consumer, AIOKafkaConsumer) else consumer()
        try:
            await client.start()
        except BaseException:
            if client is not consumer:
                await close_quietly(client.stop)
            raise
        return client

    try:
        client = await ride_out(start, stop=stop, default=KAFKA)
    except Stopped:
        if isinstance(consumer, AIOKafkaConsumer):
            await close_quietly(consumer.stop)
        return
    log.info("consumer_started", consumer=processor.name)
    rider = RideOut(stop=stop, default=KAFKA)
    offsets = PendingOffsets(commit_interval)
    try:
        while not stop.is_set():
            try:
                batch = await client.getmany(timeout_ms=500, max_records=500)
            except KafkaError as exc:
                if not await rider.failed(exc):
                    log.warning("consumer_poll_failed", error=str(exc))
                    await asyncio.sleep(1)
                continue
            rider.succeeded()
            # Partitions are independent (a case's events share one): a big poll's are applied side by side, each
            # in order; a small poll's (a moderate load: an event or two per partition) in one transaction, each
            # partition's still in order, rather than a transaction per partition for one event each.
            if sum(len(records) for records in batch.values()) <= TRANSACTION_BATCH:
                await _apply_in_order(processor, [record for records in batch.values() for record in records])
            else:
                await asyncio.gather(*(_apply_in_order(processor, records) for records in batch.values()))
            offsets.applied({tp: records[-1].offset + 1 for tp, records in batch.items()})
            if offsets.due():
                await _commit(client, offsets.take())
        await _commit(client, offsets.take())  # a clean stop leaves nothing to apply twice
    except Stopped:
        pass  # stopped while the database was away: the uncommitted records come again (the inbox dedupes)
    finally:
        await client.stop()


class PendingOffsets:
    """Offsets applied but not yet committed to the broker, committed at most every COMMIT_INTERVAL seconds.

    The inbox, not the offset, is what makes an event apply once: a commit only spares a restarted (or
    rebalanced) consumer from reading again what it had applied. Committing after every poll cost a request to
    the broker and a write to its offsets topic per poll, and under a moderate load a poll is one or two events,
    for each of the four groups: at a paced 100 incidents/s Kafka's CPU per incident went from 1.3-2.0 ms to
    1.05-1.2 ms with this (bench/README.md, session 30). So a crash costs at most an interval's events read again
    and dropped by the inbox; a clean stop commits what was applied."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._pending: dict[TopicPartition, int] = {}
        self._last_commit = clock()

    def applied(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._pending.update(offsets)

    def due(self) -> bool:
        return bool(self._pending) and self._clock() - self._last_commit >= self._interval

    def take(self) -> dict[TopicPartition, int]:
        taken, self._pending, self._last_commit = self._pending, {}, self._clock()
        return taken


async def _apply_in_order(processor: EventProcessor, records: list[Any]) -> None:
    incoming = [Incoming(rec.topic, rec.partition, rec.offset, rec.key.decode() if rec.key else None,
                         rec.value.decode("utf-8", errors="replace") if rec.value else "")
                for rec in records]
    for start in range(0, len(incoming), TRANSACTION_BATCH):
        count_events(processor.name, await processor.process_many(incoming[start:start + TRANSACTION_BATCH]))


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    # A partition a rebalance took since its records were applied is left out (the client refuses a commit that
    # names one, and would drop the others' with it): its new owner re-reads from the last commit, and the inbox
    # turns the repeats into no-ops.
    owned = consumer.assignment()
    offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except KafkaError as exc:  # a rebalance under way: the same as above for every partition of this commit
        log.warning("consumer_commit_failed", partitions=sorted(map(str, offsets)), error=str(exc))
