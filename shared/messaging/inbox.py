"""Inbox and dead letters: the consumer side of exactly-once effects."""

from __future__ import annotations

import uuid

import asyncpg


async def record(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """Insert the event id in the current transaction; False if it was already applied."""
    row = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer, event_id,
    )
    return row is not None


# The class key of the per-case transaction locks below (two-key advisory locks never meet one-key ones,
# like the relay's leader lock): 'grid'.
CASE_LOCKS = 0x67726964


async def record_many(conn: asyncpg.Connection, consumer: str, event_ids: list[uuid.UUID],
                      subjects: list[str]) -> set[uuid.UUID]:
    """`record` for a whole batch in one round trip: the ids not applied before (an id twice in the batch is
    returned once; the caller applies its first copy).

    First it takes a transaction lock per case of the batch (`subjects`), every batch in the same global order:
    a consumer applies its partitions side by side, and the partitions of two topics carry events of the same
    cases in different orders; without one order, two batches would each lock a case the other needs next and
    Postgres would break the deadlock after a second by failing one of them."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        """WITH locked AS (
               SELECT count(pg_advisory_xact_lock($3, case_key)) AS cases
                 FROM (SELECT DISTINCT hashtext(subject) AS case_key FROM unnest($4::text[]) AS subject
                        ORDER BY 1) AS in_order)
           INSERT INTO inbox (consumer, event_id)
           SELECT $1, event_id FROM locked, unnest($2::uuid[]) AS event_id
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer, event_ids, CASE_LOCKS, subjects,
    )
    return {row["event_id"] for row in rows}


async def park(conn: asyncpg.Connection, *, consumer: str, topic: str, partition: int, offset: int,
               event_id: uuid.UUID | None, event_type: str | None, key: str | None, payload: str,
               error: str, attempts: int) -> None:
    await conn.execute(
        """INSERT INTO dead_letter (consumer, topic, kafka_partition, kafka_offset, event_id, event_type,
                                    key, payload, error, attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (consumer, topic, kafka_partition, kafka_offset) DO NOTHING""",
        consumer, topic, partition, offset, event_id, event_type, key, payload, error[:4000], attempts,
    )


async def list_parked(conn: asyncpg.Connection, consumer: str, include_replayed: bool = False) -> list[dict]:
    rows = await conn.fetch(
        """SELECT id, topic, kafka_partition, kafka_offset, event_id, event_type, error, attempts,
                  parked_at, replayed_at
             FROM dead_letter
            WHERE consumer = $1 AND ($2 OR replayed_at IS NULL)
            ORDER BY id""",
        consumer, include_replayed,
    )
    return [dict(r) for r in rows]
