"""asyncpg pool with JSON codecs, so jsonb columns read and write as Python values."""

from __future__ import annotations

import json

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=lambda v: json.dumps(v, ensure_ascii=False, default=str),
                                  decoder=json.loads, schema="pg_catalog")


async def _rollback_if_open(conn: asyncpg.Connection) -> None:
    """Reset on release, light: our code leaves no session state behind (no SET; listeners and advisory
    locks are released by their owners), so asyncpg's default reset query, a round trip on every
    release, is skipped. A transaction left open is still rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 8, generic_plans: bool = False) -> asyncpg.Pool:
    """`generic_plans`: the connections plan each prepared statement once (plan_cache_mode force_generic_plan)
    instead of letting Postgres plan it afresh for its parameters, which it goes on doing forever for a statement
    whose generic plan it estimates dearer (an array parameter, `area && $1`, `= ANY($1)`): 368 µs of planning per
    execution for routing's decision read, 196 for supervision's assignment (bench/README.md, session 27). For the
    consumers, whose statements are fixed and keyed by the case; not for an API's searches, whose optional filters
    need plans made for the filters given, nor for a relay's batch read, whose LIMIT a generic plan cannot see."""
    settings = {"plan_cache_mode": "force_generic_plan"} if generic_plans else None
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection,
                                     reset=_rollback_if_open, command_timeout=30, server_settings=settings)
    assert pool is not None
    return pool
