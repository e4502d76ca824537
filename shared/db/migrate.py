"""Forward-only migrations: numbered plain-SQL files applied once each, in order, in one transaction each.

The shared messaging tables (outbox, inbox, dead letters) come first, then the service's own files.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import structlog

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6D696772  # one migrator at a time per database

log = structlog.get_logger("migrate")


def migration_files(service_dir: Path) -> list[tuple[str, Path]]:
    files = [(f"shared/{p.name}", p) for p in sorted(SHARED_MIGRATIONS.glob("*.sql"))]
    files += [(p.name, p) for p in sorted((service_dir / "migrations").glob("*.sql"))]
    return files


async def migrate(dsn: str, service_dir: Path) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migration")}
        for name, path in migration_files(service_dir):
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute("INSERT INTO schema_migration (name) VALUES ($1)", name)
            applied_now.append(name)
            log.info("migration_applied", name=name)
    finally:
        await conn.close()
    return applied_now
