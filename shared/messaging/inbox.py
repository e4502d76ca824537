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
