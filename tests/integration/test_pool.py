"""The pool's connections: generic plans for the roles whose statements are fixed (shared/db/pool.py)."""

from __future__ import annotations

from shared.db.pool import create_pool

# An array parameter: Postgres estimates the generic plan dearer than a plan for the array given, and so plans the
# statement afresh at every execution unless told otherwise (routing's decision read, supervision's assignment).
BY_NAMES = "SELECT count(*) FROM pg_class WHERE relname = ANY($1::text[])"


async def plans_made(generic: bool, dsn: str) -> tuple[int, int]:
    pool = await create_pool(dsn, 1, 1, generic_plans=generic)
    try:
        async with pool.acquire() as conn:
            for _ in range(12):
                await conn.fetchval(BY_NAMES, ["pg_class", "pg_type"])
            row = await conn.fetchrow("SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                                      " WHERE statement = $1", BY_NAMES)
    finally:
        await pool.close()
    return row["generic_plans"], row["custom_plans"]


async def test_a_generic_plans_pool_plans_a_statement_once_and_the_default_pool_at_every_execution(fresh_database):
    dsn = await fresh_database("pool")
    generic, custom = await plans_made(True, dsn)
    assert (generic, custom) == (12, 0)
    generic, custom = await plans_made(False, dsn)
    assert (generic, custom) == (0, 12)  # planned for its array every time: the generic plan estimated dearer
