"""Two of every role (issue 17, item 3): two APIs on one port (SO_REUSEPORT), two consumers per group, two relays,
two tickers, two deliverers, two resumers and fetchers, as `xN` in deploy/local/processes.txt starts them. The journey
and the kill -9 test of test_journey pass unchanged, and with one replica of every role killed for good mid-traffic
(the API a client was talking to included) the other carries on: each case stored, routed, clocked and told once,
the consumer groups rebalanced onto the survivors, outboxes drained."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from shapely.geometry import Point, shape

from services.notifications.domain.delivery import bundle_key
from tests.e2e import test_journey as journey
from tests.e2e.stack import SERVICES, Stack, eventually, roles, running_stack
from tests.e2e.test_journey import _show_logs_on_failure  # noqa: F401  (autouse: the roles' logs of a failed test)
from tests.support import KAFKA_BOOTSTRAP, ROOT

pytestmark = pytest.mark.e2e

REPLICAS = 2
CASES = 24
SMALL_CITY = ROOT / "deploy/demo/small-city.geojson"


@pytest.fixture
async def stack(tmp_path, topic_prefix, monkeypatch):
    monkeypatch.setenv("E2E_REPLICAS", str(REPLICAS))
    async with running_stack(tmp_path, topic_prefix) as stack:
        assert stack.replicas == REPLICAS
        yield stack


async def test_the_journey_with_two_of_every_role(stack: Stack):
    await journey.test_report_to_red_light_to_sms_and_sse(stack)


async def test_kill_minus_nine_with_two_of_every_role(stack: Stack):
    await journey.test_kill_minus_nine_anywhere_still_gives_exactly_one_of_each_effect(stack)


def places_in_grid_1(count: int) -> list[dict[str, float]]:
    """Points of grid 1, 60 m and more apart, away from the school inside it: far enough apart that intake does
    not link them as near-duplicates of one case (DESIGN.md: same category within 50 m), so each is routed."""
    grid, school = (shape(f["geometry"]) for f in sorted(
        (f for f in json.loads(SMALL_CITY.read_text())["features"]
         if f["properties"]["code"] in ("320508019044001", "320508019044801")),
        key=lambda f: f["properties"]["code"]))
    x0, y0, _, _ = grid.bounds
    lattice = (Point(x0 + i * 0.0008, y0 + j * 0.0007) for i in range(1, 19) for j in range(1, 28))
    inside = [p for p in lattice if grid.contains(p) and not school.buffer(0.0005).contains(p)]
    assert len(inside) >= count, "grid 1 has too few places far enough apart"
    return [{"lon": p.x, "lat": p.y} for p in inside[:count]]


async def report(http: httpx.AsyncClient, stack: Stack, key: str, place: dict[str, float]) -> str:
    """One urgent neighbour dispute in grid 1, retried on the same Idempotency-Key through a replica's death (the
    connection it was on may die with it) as any client of the platform does."""
    async def accepted() -> str | None:
        try:
            response = await http.post(stack.url("intake") + "/v1/incidents", headers={
                **journey.auth(stack), "Idempotency-Key": key}, json={
                "source": "gridworker", "category": "dispute.neighbour", "urgency": "urgent",
                "title": f"楼上漏水 {key[:8]}", "location": place})
        except httpx.TransportError:
            return None
        if response.status_code in (502, 503):
            return None
        assert response.status_code in (200, 201, 202), response.text
        return str(response.json()["id"])

    return await eventually(accepted, timeout=60)


async def lag_of_groups(stack: Stack) -> dict[str, int]:
    """Each service's consumer group: how many records on its partitions it has not committed (0: every
    partition, the dead member's included, consumed by a member that is still alive)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    ends = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP)
    await admin.start()
    await ends.start()
    try:
        lag = {}
        for service in SERVICES:
            committed = await admin.list_consumer_group_offsets(stack.topic_prefix + service)
            if not committed:
                lag[service] = -1  # the group has committed nothing yet
                continue
            end_offsets = await ends.end_offsets(list(committed))
            lag[service] = sum(end_offsets[tp] - meta.offset for tp, meta in committed.items())
        return lag
    finally:
        await ends.stop()
        await admin.close()


async def stage_counts(stack: Stack, ids: list[uuid.UUID]) -> dict[str, int]:
    """How many of the cases each service has taken in: stored (intake), routed (routing), clocked (supervision)."""
    queries = {"stored": ("intake", "SELECT count(*) FROM incident WHERE id = ANY($1)"),
               "routed": ("routing", "SELECT count(*) FROM assignment WHERE incident_id = ANY($1)"),
               "clocked": ("supervision", "SELECT count(*) FROM phase_clock WHERE incident_id = ANY($1)")}
    counts = {}
    for stage, (service, query) in queries.items():
        conn = await asyncpg.connect(stack.databases[service])
        try:
            counts[stage] = await conn.fetchval(query, ids)
        finally:
            await conn.close()
    return counts


async def test_one_replica_of_every_role_dies_and_the_other_carries_on(stack: Stack):
    journey.load_city(stack)
    async with httpx.AsyncClient(timeout=10) as http:
        keys = [str(uuid.uuid4()) for _ in range(CASES)]
        places = places_in_grid_1(CASES)
        first = await asyncio.gather(*(report(http, stack, key, place)
                                       for key, place in zip(keys[: CASES // 2], places, strict=False)))
        # Kill the first replica of every role (the SMS gateway, the outside provider, excepted), for good.
        for service, role in roles():
            if role != "sms-gateway":
                stack.kill(service, role)
        # The rest of the traffic, and the first half again with the same keys, through the surviving replicas.
        rest = await asyncio.gather(*(report(http, stack, key, place)
                                      for key, place in zip(keys, places, strict=True)))
        assert rest[: CASES // 2] == first, "a retried report made a second case"
        incidents = rest

        ids = [uuid.UUID(i) for i in incidents]

        async def every_case_clocked() -> bool:
            return await stage_counts(stack, ids) == {"stored": CASES, "routed": CASES, "clocked": CASES}

        try:
            await eventually(every_case_clocked, timeout=90)
        except AssertionError:
            raise AssertionError(f"cases at each stage: {await stage_counts(stack, ids)}") from None

        # The groups rebalanced: the survivors consumed every partition, the dead members' included, to its end.
        async def caught_up() -> dict | None:
            lag = await lag_of_groups(stack)
            return lag if all(n == 0 for n in lag.values()) else None

        await eventually(caught_up, timeout=90)

        # The surviving ticker fires each light once, and the surviving deliverer sends each SMS once.
        await journey.advance(http, stack, 1.5 * 3600)
        phone = journey.GRID_1_WORKER["phone"]
        notifications = await asyncpg.connect(stack.databases["notifications"])
        try:
            async def all_sent() -> list | None:
                rows = await notifications.fetch(
                    "SELECT id, incident_id, status, coalesce(bundle_id, id) AS sent_as FROM delivery "
                    "WHERE channel = 'sms' AND address = $1 AND incident_id = ANY($2)", phone, ids)
                # the new-case notice and the yellow light of every case, each sent
                done = len(rows) >= 2 * CASES and all(row["status"] == "sent" for row in rows)
                return rows if done else None

            deliveries = await eventually(all_sent, timeout=120)
        finally:
            await notifications.close()
        per_case = Counter(row["incident_id"] for row in deliveries)
        assert set(per_case.values()) == {2}, f"SMS deliveries per case: {per_case}"
        # Each message the provider got is one send: a delivery alone, or a bundle of them (its key made from its
        # members' ids). Nothing sent twice, nothing the deliveries do not account for.
        sends: dict[uuid.UUID, list[str]] = {}
        for row in deliveries:
            sends.setdefault(row["sent_as"], []).append(str(row["id"]))
        expected_keys = sorted(ids_[0] if len(ids_) == 1 else bundle_key(ids_) for ids_ in sends.values())
        gateway = await journey.sms_to(http, stack, phone)
        assert sorted(m["idempotency_key"] for m in gateway) == expected_keys, \
            "the provider got other messages than the deliveries sent"

    databases = {service: await asyncpg.connect(stack.databases[service]) for service in SERVICES}
    try:
        intake, routing, supervision = databases["intake"], databases["routing"], databases["supervision"]
        assert await intake.fetchval("SELECT count(*) FROM incident") == CASES  # no case made twice
        assert await intake.fetchval("SELECT count(*) FROM incident WHERE id = ANY($1)", ids) == CASES
        assert await routing.fetchval("SELECT count(*) FROM assignment WHERE incident_id = ANY($1)", ids) == CASES
        assert await supervision.fetchval(
            "SELECT count(*) FROM phase_clock WHERE incident_id = ANY($1)", ids) == CASES
        lights = await supervision.fetch(
            "SELECT step, count(*) AS n FROM clock_alert, unnest(steps) AS s(step) "
            "WHERE step IN ('yellow', 'red') GROUP BY step")
        assert {row["step"]: row["n"] for row in lights} == {"yellow": CASES}
        for conn in databases.values():
            async def drained(conn: asyncpg.Connection = conn) -> bool:
                return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

            await eventually(drained, timeout=30)
    finally:
        for conn in databases.values():
            await conn.close()
