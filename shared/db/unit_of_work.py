"""Unit of work: one transaction holding a state change, its outbox rows and (for consumers) the inbox row.

Handlers are typed against Protocols: `UnitOfWork` (what every service's offers) plus, for services that
publish rendered envelopes through the generic `outbox` table, `PublishingUnitOfWork`. Each service's own
Protocol adds its repositories (read-only properties, named in the plural for what they hold) and is met by
its Postgres unit of work and by the fake of its unit tests alike.

Implementations: `PgTransaction` is the transaction and the inbox; its subclass decides what goes to the
outbox at commit (`_write_outbox`). `PgUnitOfWork` writes envelopes to the generic outbox; supervision's
writes its clocks' alerts to its own table instead (a narrow row per clock move, rendered by its relay).
"""

from __future__ import annotations

import abc
import uuid
from typing import Any, Protocol, Self

import asyncpg

from shared import tracing
from shared.clock import Clock
from shared.events.envelope import Envelope, Event
from shared.messaging import inbox, outbox
from shared.resilience import connection_gone


class UnitOfWork(Protocol):
    """What every service's unit of work offers its handlers and the consumer loop."""

    @property
    def clock(self) -> Clock: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def commit(self) -> None: ...

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record an incoming event id; False when this consumer already applied it."""
        ...

    async def first_deliveries(self, consumer: str, event_ids: list[uuid.UUID], subjects: list[str]
                               ) -> set[uuid.UUID]:
        """Lock the batch's cases (`subjects`, in one global order) and record its event ids at once; the ids
        this consumer had not applied yet."""
        ...


class HasEvents(Protocol):
    """An aggregate that records the events of its changes, for the unit of work to collect."""

    events: list[Any]


class PublishingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work whose events go out as CloudEvents envelopes through the generic outbox."""

    def emit(self, event: Event, cause: Envelope | None = None) -> Envelope:
        """Queue an event to be published once (and only if) this unit of work commits."""
        ...

    def collect(self, aggregate: HasEvents, cause: Envelope | None = None) -> None:
        """Move the events an aggregate recorded (its `events` list) into this unit of work."""
        ...


class Envelopes:
    """The events a unit of work will publish, wrapped as envelopes (the generic outbox's rows)."""

    def __init__(self, source: str, clock: Clock) -> None:
        self.source = source
        self.clock = clock
        self.pending: list[Envelope] = []

    def emit(self, event: Event, cause: Envelope | None = None) -> Envelope:
        # The span it is emitted in (a request's, a consumer's) goes with it: the CloudEvents tracing extension.
        traceparent, tracestate = tracing.current_traceparent()  # (None, None) while tracing is off
        envelope = Envelope.wrap(event, source=self.source, time=self.clock.now(), cause=cause,
                                 traceparent=traceparent, tracestate=tracestate)
        self.pending.append(envelope)
        return envelope

    def collect(self, aggregate: HasEvents, cause: Envelope | None = None) -> None:
        for event in aggregate.events:
            self.emit(event, cause)
        aggregate.events = []


class PgTransaction(abc.ABC):
    """One Postgres transaction on a pooled connection; subclasses attach repositories and write their outbox."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self.clock = clock
        self.conn: asyncpg.Connection
        self._tx: Any = None
        self.committed = False

    async def __aenter__(self) -> Self:
        self.committed = False
        self._begin()
        self.conn = await self._pool.acquire()
        try:
            self._tx = self.conn.transaction()
            await self._tx.start()
        except BaseException as exc:
            # The connection died between the pool and BEGIN (a database restart): give it back, or the pool,
            # one connection short each time, would run dry. Closed first unless the server refused the BEGIN
            # itself: a connection the client lost track of (asyncpg's InternalClientError) is not reused.
            if not isinstance(exc, asyncpg.PostgresError) and not connection_gone(self.conn):
                self.conn.terminate()
            await self._pool.release(self.conn)
            raise
        self.attach(self.conn)
        return self

    def _begin(self) -> None:  # noqa: B027 - a hook: nothing to reset unless a subclass gathers something
        """Reset what the unit of work gathers (a unit of work may be entered more than once)."""

    def attach(self, conn: asyncpg.Connection) -> None:  # noqa: B027 - a hook: a subclass adds repositories
        """Build the repositories on the transaction's connection."""

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if not self.committed:
                await self.rollback()
        finally:
            await self._pool.release(self.conn)

    async def commit(self) -> None:
        await self._write_outbox()
        await self._tx.commit()
        self.committed = True

    @abc.abstractmethod
    async def _write_outbox(self) -> None:
        """Write what is to be published, inside the transaction, just before it commits."""

    async def rollback(self) -> None:
        if self._tx is None or self.committed:
            return
        try:
            await self._tx.rollback()
        except asyncpg.InterfaceError:
            pass  # already finished (a failed commit ends the transaction itself)

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        return await inbox.record(self.conn, consumer, event_id)

    async def first_deliveries(self, consumer: str, event_ids: list[uuid.UUID], subjects: list[str]
                               ) -> set[uuid.UUID]:
        return await inbox.record_many(self.conn, consumer, event_ids, subjects)


class PgUnitOfWork(PgTransaction):
    """A transaction whose events are rendered envelopes in the generic `outbox` table."""

    def __init__(self, pool: asyncpg.Pool, source: str, clock: Clock) -> None:
        super().__init__(pool, clock)
        self.events = Envelopes(source, clock)

    def _begin(self) -> None:
        self.events.pending = []

    def emit(self, event: Event, cause: Envelope | None = None) -> Envelope:
        return self.events.emit(event, cause)

    def collect(self, aggregate: HasEvents, cause: Envelope | None = None) -> None:
        self.events.collect(aggregate, cause)

    async def _write_outbox(self) -> None:
        await outbox.write(self.conn, self.events.pending)
