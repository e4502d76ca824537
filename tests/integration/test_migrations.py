"""Every service's migrations apply to an empty database, and applying them again changes nothing."""

import asyncpg
import pytest

from shared.db.migrate import migrate, migration_files
from tests.support import SERVICE_DIRS

EXPECTED_TABLES = {
    "intake": {"incident", "timeline_entry", "category"},
    "routing": {"grid", "unit", "worker", "assignment", "routed_incident"},
    "supervision": {"policy", "phase_clock", "supervised_case", "virtual_clock", "calendar_override", "clock_alert"},
    "notifications": {"delivery", "alert", "case_owner"},
}


@pytest.mark.parametrize("service", sorted(SERVICE_DIRS))
async def test_migrations_apply_to_an_empty_database_once(service, fresh_database):
    dsn = await fresh_database(service)
    applied = await migrate(dsn, SERVICE_DIRS[service])
    assert applied == [name for name, _ in migration_files(SERVICE_DIRS[service])]
    assert await migrate(dsn, SERVICE_DIRS[service]) == []
    conn = await asyncpg.connect(dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await conn.close()
    assert EXPECTED_TABLES[service] | {"outbox", "inbox", "dead_letter", "schema_migration"} <= tables
