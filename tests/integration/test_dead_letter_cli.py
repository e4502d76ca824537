"""`python -m services.<name> dead-letters list|replay` against a real database."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import asyncpg

from shared.db.migrate import migrate
from shared.events.envelope import Envelope
from shared.events.routing import IncidentAssigned, Owner
from tests.support import ROOT, SERVICE_DIRS

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def cli(dsn: str, *args: str) -> str:
    env = {**os.environ, "INTAKE_DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "services.intake", "dead-letters", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_parked_events_are_listed_and_replayed_once_their_cause_is_fixed(fresh_database):
    dsn = await fresh_database("dlq")
    await migrate(dsn, SERVICE_DIRS["intake"])
    incident_id = uuid.uuid4()
    event = IncidentAssigned(incident_id=incident_id, at=NOW, category="city.garbage", urgency="normal",
                             grid_code="320508019044001", reason="located",
                             owner=Owner(unit_id="g1", unit_name="一网格", unit_kind="grid"))
    envelope = Envelope.wrap(event, source="/routing", time=NOW)
    conn = await asyncpg.connect(dsn)
    try:
        # Parked because intake did not know the incident yet.
        await conn.execute(
            "INSERT INTO dead_letter (consumer, topic, kafka_partition, kafka_offset, event_id, event_type, key,"
            " payload, error, attempts) VALUES ('intake', 'routing.assignments.v1', 0, 42, $1, $2, $3, $4,"
            " 'IncidentNotFound', 3)", envelope.id, envelope.type, envelope.subject, envelope.model_dump_json())
        listed = [json.loads(line) for line in cli(dsn, "list").splitlines()]
        assert [(r["event_id"], r["kafka_offset"]) for r in listed] == [(str(envelope.id), 42)]

        assert "still failing" in cli(dsn, "replay")
        await conn.execute(
            "INSERT INTO incident (id, source, category, urgency, title, reported_at, received_at, status)"
            " VALUES ($1, 'gridworker', 'city.garbage', 'normal', '垃圾', $2, $2, 'received')", incident_id, NOW)
        assert cli(dsn, "replay").strip().endswith(": applied")
        assert await conn.fetchval("SELECT status FROM incident WHERE id = $1", incident_id) == "assigned"
        assert cli(dsn, "list") == ""
        assert cli(dsn, "replay") == ""
    finally:
        await conn.close()
