"""Suite-wide helpers: throwaway databases on the local Postgres and topics on the local Kafka.

Integration and e2e tests use the real servers that `make test` starts (deploy/local/); each test
gets its own database and its own topic prefix so tests never see each other's data.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from fastapi import FastAPI

from tests.throwaway import ADMIN_DSN, create_database, drop_database, dsn_for

ROOT = Path(__file__).resolve().parent.parent
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
T = TypeVar("T")
SERVICE_DIRS = {name: ROOT / "services" / name for name in ("intake", "routing", "supervision", "notifications")}



@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A service's app started in-process (its lifespan builds the container) and a client talking to it;
    `client.app` gives tests the container for setting up state the way consumers would."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


class FakeTime:
    """Seconds as time.monotonic or time.time gives them, moving only when a test sets `now`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FixedClock:
    """A clock that only moves when told (tests, benchmarks)."""

    mode = "fixed"
    speed = 0.0

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = at

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete these topics (a test's or a benchmark's private copies)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def published_records(topic: str, bootstrap: str = KAFKA_BOOTSTRAP) -> list[Any]:
    """Every record on `topic` now, partition by partition from the beginning (aiokafka ConsumerRecords): what the
    relays published, since they delete their outbox rows once the broker has them."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from shared.messaging.topics import PARTITIONS

    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        records: list[Any] = []
        while [tp for tp in partitions if await reader.position(tp) < ends[tp]]:  # one not read to its end
            for batch in (await reader.getmany(timeout_ms=1000, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await reader.stop()


async def handle(bus, event, envelope=None):
    """Run one event through the bus's handler for it in a fresh unit of work and commit, as the consumer does
    after its inbox check (the inbox itself is tested in test_messaging.py). Returns the envelope."""
    from shared.events.envelope import Envelope

    envelope = envelope or Envelope.wrap(event, source="/" + event.type.split(".")[0], time=event.at)
    async with bus.uow() as uow:
        await bus.event_handlers[event.type](event, envelope, uow)
        await uow.commit()
    return envelope


async def one_by_one_then_as_a_run(bus: Any, pool: asyncpg.Pool, events: Sequence[Any],
                                   read: Callable[[asyncpg.Pool], Awaitable[T]],
                                   reset: Callable[[asyncpg.Pool], Awaitable[None]]) -> tuple[T, T, list[int]]:
    """Apply `events` through a consumer one by one (each by its one-event handler, in its own transaction) and
    `read(pool)` what that left; `reset(pool)` (the same events come again); then apply them as one consumer batch
    (a run of one type goes to the bus's batch handler; a batch handler that fails, which the consumer would answer by
    applying the batch one by one, fails the test) and read again. Returns both reads and the number of events each
    batch-handler call applied: a batch handler must leave what one by one leaves."""
    from shared.events.envelope import Envelope
    from shared.messaging.consumer import EventProcessor, Incoming

    calls: list[int] = []

    def counted(handler: Callable[[list[Any], Any], Awaitable[None]]) -> Callable[[list[Any], Any], Awaitable[None]]:
        async def run(run_events: list[Any], uow: Any) -> None:
            await handler(run_events, uow)
            calls.append(len(run_events))  # counted once it has done its work
        return run

    async def no_fallback(record: Any) -> str:
        raise AssertionError(f"the batch fell back to one by one at {record.offset}: a batch handler failed")

    reads: list[T] = []
    for batched in (False, True):
        processor = EventProcessor("consumer", bus.event_handlers, bus.uow, pool, max_attempts=1,
                                   batch_handlers={kind: counted(handler) for kind, handler in
                                                   bus.batch_handlers.items()} if batched else None)
        records = [Incoming("t", 0, n, envelope.subject, envelope.model_dump_json()) for n, envelope in
                   enumerate(Envelope.wrap(event, source="/" + event.type.split(".")[0], time=event.at)
                             for event in events)]
        if batched:
            processor.process = no_fallback  # type: ignore[method-assign]
            outcomes = await processor.process_many(records)
        else:
            outcomes = [await processor.process(record) for record in records]
        assert outcomes == ["applied"] * len(records)
        reads.append(await read(pool))
        if not batched:
            await reset(pool)
    return reads[0], reads[1], calls


__all__ = ["ADMIN_DSN", "KAFKA_BOOTSTRAP", "ROOT", "SERVICE_DIRS", "FakeTime", "FixedClock", "create_database",
           "delete_topics", "drop_database", "dsn_for", "handle", "one_by_one_then_as_a_run", "published_records",
           "serving"]
