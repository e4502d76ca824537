"""Unit of work: one transaction holding a state change, its outbox rows and (for consumers) the inbox row.

Services subclass `PgUnitOfWork` to attach their repositories; unit tests subclass `FakeUnitOfWork`.
"""

from __future__ import annotations

import abc
import uuid
from typing import Any, Self

import asyncpg

from shared.clock import Clock
from shared.events.envelope import Envelope, Event
from shared.messaging import inbox, outbox


class UnitOfWork(abc.ABC):
    def __init__(self, source: str, clock: Clock) -> None:
        self.source = source
        self.clock = clock
        self.pending: list[Envelope] = []
        self.committed = False

    def emit(self, event: Event, cause: Envelope | None = None) -> Envelope:
        """Queue an event to be published once (and only if) this unit of work commits."""
        envelope = Envelope.wrap(event, source=self.source, time=self.clock.now(), cause=cause)
        self.pending.append(envelope)
        return envelope

    def collect(self, aggregate: Any, cause: Envelope | None = None) -> None:
        """Move the events an aggregate recorded (its `events` list) into this unit of work."""
        for event in aggregate.events:
            self.emit(event, cause)
        aggregate.events = []

    async def __aenter__(self) -> Self:
        self.pending = []
        self.committed = False
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if not self.committed:
            await self.rollback()

    async def commit(self) -> None:
        await self._commit()
        self.committed = True

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...

    @abc.abstractmethod
    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record an incoming event id; False when this consumer already applied it."""


class PgUnitOfWork(UnitOfWork):
    def __init__(self, pool: asyncpg.Pool, source: str, clock: Clock) -> None:
        super().__init__(source, clock)
        self._pool = pool
        self.conn: asyncpg.Connection
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.conn = await self._pool.acquire()
        self._tx = self.conn.transaction()
        await self._tx.start()
        self.attach(self.conn)
        return self

    def attach(self, conn: asyncpg.Connection) -> None:
        """Subclasses build their repositories on the transaction's connection here."""

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._pool.release(self.conn)

    async def _commit(self) -> None:
        await outbox.write(self.conn, self.pending)
        await self._tx.commit()

    async def rollback(self) -> None:
        if self._tx is None or self.committed:
            return
        try:
            await self._tx.rollback()
        except asyncpg.InterfaceError:
            pass  # already finished (a failed commit ends the transaction itself)

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        return await inbox.record(self.conn, consumer, event_id)


class FakeUnitOfWork(UnitOfWork):
    """In-memory: records what would have been published; for unit tests only."""

    def __init__(self, source: str, clock: Clock) -> None:
        super().__init__(source, clock)
        self.published: list[Envelope] = []
        self.seen: set[tuple[str, uuid.UUID]] = set()
        self.commits = 0

    async def _commit(self) -> None:
        self.published.extend(self.pending)
        self.commits += 1

    async def rollback(self) -> None:
        self.pending = []

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        if (consumer, event_id) in self.seen:
            return False
        self.seen.add((consumer, event_id))
        return True
