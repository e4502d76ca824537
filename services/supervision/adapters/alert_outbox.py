"""Supervision's outbox for the relay: clock alerts, rendered into their events when published.

Each event's id derives from its alert's id and its place in the alert, so a batch published again after
a relay crash carries the same ids and consumers' inboxes drop the doubles.

The rows keep no trace context (no `traceparent`): a light change or 督办 step is the ticker's doing, not a
request's, so each begins a trace of its own at its consumers, with the case on every span (shared/tracing.py).
"""

from __future__ import annotations

import uuid

import asyncpg

from services.supervision.adapters.repository import QUERIES
from services.supervision.domain.alerts import ClockAlert, events_of
from services.supervision.domain.model import ClockFacts
from shared.events.envelope import Envelope
from shared.messaging.outbox import OutgoingMessage
from shared.messaging.topics import topic_for_event_type

SOURCE = "/supervision"


class ClockAlertOutbox:
    async def unsent(self, conn: asyncpg.Connection, limit: int) -> list[OutgoingMessage]:
        messages = []
        for row in await conn.fetch(QUERIES.unsent_clock_alerts, limit):
            for envelope in render(row):
                messages.append(OutgoingMessage(row["id"], topic_for_event_type(envelope.type),
                                                envelope.subject.encode(), envelope.to_bytes()))
        return messages

    async def retire_published(self, conn: asyncpg.Connection, row_ids: list[int]) -> None:
        # Marked, not deleted: the alerts are the record of which thresholds fired (kept a day, then purged).
        await conn.execute(QUERIES.mark_clock_alerts_sent, row_ids)

    async def purge_sent(self, pool: asyncpg.Pool, older_than_hours: int) -> int:
        result = await pool.execute(QUERIES.purge_sent_clock_alerts, older_than_hours)
        return int(result.split()[-1])

    async def oldest_unsent_age(self, conn: asyncpg.Connection) -> float | None:
        age: float | None = await conn.fetchval(QUERIES.oldest_unsent_clock_alert_age)
        return age


def render(row: asyncpg.Record) -> list[Envelope]:
    """One alert row (joined with its clock's facts) as the envelopes of its steps."""
    alert = ClockAlert(row["clock_id"], row["at"], row["due_at"], row["due_version"], row["light_before"],
                       row["level_before"], tuple(row["steps"]), row["manual"], row["note"],
                       row["correlation_id"], row["causation_id"])
    facts = ClockFacts(row["incident_id"], row["phase"], row["category"], row["urgency"], row["grid_code"],
                       row["unit_id"])
    envelopes = []
    for n, event in enumerate(events_of(alert, facts)):
        event_id = uuid.uuid5(row["alert_id"], str(n))
        envelope = Envelope.wrap(event, source=SOURCE, time=alert.at, event_id=event_id)
        if alert.causation_id is not None:
            envelope.correlationid, envelope.causationid = alert.correlation_id, alert.causation_id
        envelopes.append(envelope)
    return envelopes
