"""Transactional outbox: write rows with the state change; a relay publishes them and retires them.

The relay never reads "id > last id": transactions commit out of id order, so what waits is what is still in
the table (the envelope outbox deletes a row once Kafka has it). One relay per service leads (session advisory
lock); others wait as hot standbys. LISTEN is a hint to wake early; the short poll is what guarantees progress.

Most services keep rendered envelopes in the `outbox` table (`EnvelopeOutbox`). A service may keep its
events in another shape and render them at publish time by giving the relay its own `OutboxTable`
(supervision does: a catch-up writes hundreds of thousands of threshold crossings at once).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from shared import tracing
from shared.events.envelope import Envelope
from shared.messaging.topics import topic_for_event_type
from shared.resilience import RideOut, Stopped, close_quietly, connection_gone

NOTIFY_CHANNEL = "outbox"
PURGE_EVERY_SECONDS = 600
log = structlog.get_logger("outbox")


async def write(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
    if not envelopes:
        return
    # One round trip: all rows, and the hint that wakes the relay (delivered at commit).
    await conn.execute(
        """WITH written AS (
               INSERT INTO outbox (event_id, topic, key, payload)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
               RETURNING 1)
           SELECT pg_notify($5, '') FROM (SELECT 1 FROM written LIMIT 1) AS any_row""",
        *columns(envelopes), NOTIFY_CHANNEL,
    )


def columns(envelopes: list[Envelope]) -> tuple[list[uuid.UUID], list[str], list[str], list[str]]:
    """Outbox rows as arrays (event_id, topic, key, payload), for a service statement that writes them together
    with its state change (one statement, atomic by itself) and notifies NOTIFY_CHANNEL as `write` does."""
    return ([e.id for e in envelopes], [topic_for_event_type(e.type) for e in envelopes],
            [e.subject for e in envelopes], [e.model_dump_json() for e in envelopes])


@dataclass(frozen=True)
class OutgoingMessage:
    """One Kafka record to publish; `row_id` is the outbox row it comes from (a row may hold several)."""

    row_id: int
    topic: str
    key: bytes
    value: bytes


class OutboxTable(Protocol):
    """Where a service's unsent events wait, in publication order."""

    async def unsent(self, conn: asyncpg.Connection, limit: int) -> list[OutgoingMessage]:
        """The messages of up to `limit` unsent rows, oldest row first."""

    async def retire_published(self, conn: asyncpg.Connection, row_ids: list[int]) -> None:
        """The rows are on the broker: never published again."""

    async def purge_sent(self, pool: asyncpg.Pool, older_than_hours: int) -> int:
        """Delete retired rows kept longer ago than that (a table that keeps them a while); returns how many."""

    async def oldest_unsent_age(self, conn: asyncpg.Connection) -> float | None:
        """Seconds since the oldest unsent row was written (None: nothing waits); one indexed lookup."""


class EnvelopeOutbox:
    """The `outbox` table of rendered CloudEvents envelopes (written by `write`). A row is deleted once published:
    Kafka keeps what was published (and its consumers' inboxes what they applied), and marking it sent instead
    rewrote the whole row and its index entries (bench/README.md, session 29). `sent_at` is what a relay of an
    earlier version set while an upgrade rolled: such rows are left alone and purged; a check counting the rows
    `WHERE sent_at IS NULL` still counts what waits."""

    async def unsent(self, conn: asyncpg.Connection, limit: int) -> list[OutgoingMessage]:
        rows = await conn.fetch(
            "SELECT id, topic, key, payload FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1", limit)
        return [OutgoingMessage(r["id"], r["topic"], r["key"].encode(), r["payload"].encode()) for r in rows]

    async def retire_published(self, conn: asyncpg.Connection, row_ids: list[int]) -> None:
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", row_ids)

    async def purge_sent(self, pool: asyncpg.Pool, older_than_hours: int) -> int:
        # Only an earlier version's relay marks rows (while an upgrade rolls): they go at once, whatever their age.
        result = await pool.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL")
        return int(result.split()[-1])

    async def oldest_unsent_age(self, conn: asyncpg.Connection) -> float | None:
        age: float | None = await conn.fetchval(
            "SELECT extract(epoch FROM now() - created_at)::float8 FROM outbox WHERE sent_at IS NULL "
            "ORDER BY id LIMIT 1")
        return age


def leader_lock_key(service: str) -> int:
    return int.from_bytes(hashlib.sha256(f"outbox-relay:{service}".encode()).digest()[:8], "big", signed=True)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *, service: str,
                 topic_prefix: str = "", poll_seconds: float = 0.5, batch_size: int = 500,
                 table: OutboxTable | None = None, coalesce_seconds: float = 0.0) -> None:
        self._pool = pool
        self._producer = producer
        self._table = table or EnvelopeOutbox()
        self._lock_key = leader_lock_key(service)
        self._prefix = topic_prefix
        self._poll = poll_seconds
        self._batch = batch_size
        # Woken by a commit, wait this long for the commits that follow it (Settings.coalesce_ms): one read, one
        # produce request and one mark for all of them instead of each.
        self._coalesce = coalesce_seconds
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (or stand by) until `stop`. Postgres or Kafka away, at any moment, is waited out with backoff
        (shared/resilience.py), never a reason to end: a lost lock connection frees the lock, and whoever takes it
        next starts from the unsent rows (a batch sent but not marked goes again; consumers' inboxes dedupe)."""
        rider = RideOut(stop=stop)
        while not stop.is_set():
            try:
                await self._lead(stop, rider)
            except Stopped:
                return
            except Exception as exc:
                if await rider.failed(exc):
                    continue
                if not isinstance(exc, asyncpg.PostgresError):
                    raise
                # A statement the database refused (not an outage): say so each time, and try again.
                log.error("relay_statement_failed", error_type=type(exc).__name__, error=str(exc)[:300])
                await _wait(stop, self._poll * 2)

    async def _lead(self, stop: asyncio.Event, rider: RideOut) -> None:
        async with self._pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                rider.succeeded()
                await _wait(stop, self._poll * 4)  # another relay leads; stand by
                return
            log.info("relay_leading")
            wake = asyncio.Event()

            def hint(*_: object) -> None:
                wake.set()

            try:
                await lock_conn.add_listener(NOTIFY_CHANNEL, hint)
                purged_at = 0.0
                while not stop.is_set():
                    published = await self.publish_batch()
                    rider.succeeded()
                    if published >= self._batch:
                        continue  # a backlog: its next batch at once
                    # Caught up (a part batch): a row committed since the read woke us already (or will), so
                    # wait for that. A busy city is caught up between batches, rarely idle: the purge goes here.
                    if time.monotonic() - purged_at > PURGE_EVERY_SECONDS:
                        await self._table.purge_sent(self._pool, 24)
                        purged_at = time.monotonic()
                    await _wait(wake, self._poll, also=stop)
                    woken = wake.is_set()
                    wake.clear()
                    if woken and self._coalesce:
                        await _wait(stop, self._coalesce)  # the commits that follow the one that woke us
            finally:
                if not connection_gone(lock_conn):  # a lost connection took its listener and its lock with it
                    await close_quietly(functools.partial(lock_conn.remove_listener, NOTIFY_CHANNEL, hint))
                    await close_quietly(functools.partial(lock_conn.execute, "SELECT pg_advisory_unlock($1)",
                                                          self._lock_key))

    async def publish_batch(self) -> int:
        """Publish up to one batch of unsent rows in order; returns how many messages were sent."""
        async with self._pool.acquire() as conn:
            messages = await self._table.unsent(conn, self._batch)
            if not messages:
                return 0
            if tracing.ENABLED:
                deliveries = [await self._send_traced(m) for m in messages]
            else:
                deliveries = [await self._producer.send(self._prefix + m.topic, m.value, key=m.key)
                              for m in messages]
            await asyncio.gather(*deliveries)  # acks=all: every message is on the broker before its row goes
            await self._table.retire_published(conn, sorted({m.row_id for m in messages}))
        self.published += len(messages)
        return len(messages)

    async def _send_traced(self, message: OutgoingMessage) -> asyncio.Future[object]:
        """Publish one record within its event's trace (the aiokafka instrumentation's send span and its headers
        join it): the rendered envelope's `traceparent`, where it has one."""
        with tracing.within(tracing.outbox_traceparent(message.value.decode())):
            future: asyncio.Future[object] = await self._producer.send(self._prefix + message.topic, message.value,
                                                                        key=message.key)
        return future


async def _wait(event: asyncio.Event, timeout: float, also: asyncio.Event | None = None) -> None:
    waiters = [asyncio.ensure_future(event.wait())]
    if also is not None:
        waiters.append(asyncio.ensure_future(also.wait()))
    done, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
