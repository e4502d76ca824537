"""The near-duplicate lookup on a real Postgres (intake migration 0016): its index holds the open cases only, so a
report's lookup does not walk the closed cases of the same place, however many a city's year leaves there."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from services.intake.adapters.repository import QUERIES
from tests.integration.test_intake_api import ADMIN, REPORT

HERE = {"lon": 120.61, "lat": 31.31}
BESIDE = {"lon": 120.6101, "lat": 31.3101}  # about 14 m away: inside the lookup's box


async def report(intake, conn: asyncpg.Connection, location: dict) -> tuple[str, str | None]:
    """(the new case's id, the case it was linked to as a duplicate)"""
    response = await intake.post("/v1/incidents", json={**REPORT, "location": location}, headers=ADMIN)
    assert response.status_code == 202, response.text
    case = response.json()["id"]
    duplicate_of = await conn.fetchval("SELECT duplicate_of FROM incident WHERE id = $1::uuid", case)
    return case, str(duplicate_of) if duplicate_of else None


def index_scans(plan: dict) -> list[dict]:
    found = [plan] if plan.get("Index Name") else []
    for child in plan.get("Plans", []):
        found += index_scans(child)
    return found


async def test_a_lookup_reads_the_open_cases_of_the_place_and_none_of_its_closed_ones(intake):
    conn = await asyncpg.connect(intake.dsn)
    try:
        for _ in range(20):  # each closed before the next is reported: none is a duplicate of another
            case, duplicate_of = await report(intake, conn, HERE)
            assert duplicate_of is None
            await conn.execute("UPDATE incident SET status = 'closed' WHERE id = $1::uuid", case)
        still_open, duplicate_of = await report(intake, conn, HERE)
        assert duplicate_of is None
        # The rule itself, unchanged: a report beside the open case is linked to it, not to a closed one.
        assert (await report(intake, conn, BESIDE))[1] == still_open

        received_at = await conn.fetchval("SELECT max(received_at) FROM incident")
        await conn.execute("ANALYZE incident")
        await conn.execute("SET enable_seqscan = off")
        explained = await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {QUERIES.duplicate_candidates}",
            ["city.garbage"], [received_at - timedelta(hours=24)], [HERE["lon"]], [HERE["lat"]], [0.001], [0.001])
    finally:
        await conn.close()
    plan = json.loads(explained)[0]["Plan"]
    scans = index_scans(plan)
    assert [scan["Index Name"] for scan in scans] == ["incident_duplicate_lookup"]
    # Only the open case was read: with every case of the place in the index, the 20 closed ones would be
    # fetched and dropped by the status filter.
    assert scans[0]["Actual Rows"] == 1
    assert scans[0].get("Rows Removed by Filter", 0) == 0
