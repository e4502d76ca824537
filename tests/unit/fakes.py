"""In-memory units of work for unit tests (no sockets): the shape of shared/db/unit_of_work.py's, minus Postgres.

Each service's fakes (tests/unit/<service>/fakes.py) subclass these and add fake repositories; `make lint`
type-checks those modules, so a fake that drifts from its service's unit-of-work Protocol fails mypy.
"""

from __future__ import annotations

import uuid
from typing import Self

from shared.clock import Clock
from shared.db.unit_of_work import Envelopes, HasEvents
from shared.events.envelope import Envelope, Event


class FakeTransaction:
    """Commits and rollbacks counted, the inbox a set; subclasses keep what they would publish."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.committed = False
        self.commits = 0
        self.seen: set[tuple[str, uuid.UUID]] = set()

    async def __aenter__(self) -> Self:
        self.committed = False
        self._begin()
        return self

    def _begin(self) -> None:
        pass

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.committed:
            await self.rollback()

    async def commit(self) -> None:
        await self._write_outbox()
        self.commits += 1
        self.committed = True

    async def _write_outbox(self) -> None:
        pass

    async def rollback(self) -> None:
        self._begin()

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        if (consumer, event_id) in self.seen:
            return False
        self.seen.add((consumer, event_id))
        return True

    async def first_deliveries(self, consumer: str, event_ids: list[uuid.UUID], subjects: list[str]
                               ) -> set[uuid.UUID]:
        return {event_id for event_id in event_ids if await self.first_delivery(consumer, event_id)}


class FakeUnitOfWork(FakeTransaction):
    """Publishes envelopes: `published` holds every committed one, in order."""

    def __init__(self, source: str, clock: Clock) -> None:
        super().__init__(clock)
        self.events = Envelopes(source, clock)
        self.published: list[Envelope] = []

    def _begin(self) -> None:
        self.events.pending = []

    @property
    def pending(self) -> list[Envelope]:
        return self.events.pending

    def emit(self, event: Event, cause: Envelope | None = None) -> Envelope:
        return self.events.emit(event, cause)

    def collect(self, aggregate: HasEvents, cause: Envelope | None = None) -> None:
        self.events.collect(aggregate, cause)

    async def _write_outbox(self) -> None:
        self.published.extend(self.events.pending)
        self.events.pending = []
