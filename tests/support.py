"""Suite-wide helpers: throwaway databases on the local Postgres and topics on the local Kafka.

Integration and e2e tests use the real servers that `make test` starts (deploy/local/); each test
gets its own database and its own topic prefix so tests never see each other's data.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://grid_admin:grid_admin@127.0.0.1:5432/postgres")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
SERVICE_DIRS = {name: ROOT / "services" / name for name in ("intake", "routing", "supervision", "notifications")}


def dsn_for(database: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def create_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn_for(name)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


