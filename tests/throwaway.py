"""Throwaway databases on a Postgres server (tests, benchmarks): created and dropped by an admin role."""

from __future__ import annotations

import os

import asyncpg

from tests.infra import LOCAL_ADMIN_DSN

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", LOCAL_ADMIN_DSN)


def dsn_for(database: str, admin_dsn: str = ADMIN_DSN) -> str:
    return f"{admin_dsn.rpartition('/')[0]}/{database}"


async def create_database(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    """Create `name` (the caller picks a unique one); returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn_for(name, admin_dsn)


async def drop_database(name: str, admin_dsn: str = ADMIN_DSN) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
