"""Intake's HTTP API in-process against a real Postgres: idempotency under concurrency, the lifecycle
over HTTP with roles and areas, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.intake.domain import commands
from services.intake.entrypoints import schemas as s
from shared.auth import issue_token
from shared.events.intake import Point
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from shared.settings import DEV_JWT_SECRET
from tests.support import handle, one_by_one_then_as_a_run

GRID = "320508019044001"
REPORT = {"source": "gridworker", "category": "city.garbage", "title": "小区门口垃圾堆积",
          "location": {"lon": 120.61, "lat": 31.31}}
# A caller bound to an area names the grid of its report (intake cannot place a bare point in an area).
WORKER_REPORT = {**REPORT, "grid_code": GRID}


def token(sub: str, role: str, area: list[str], unit: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, sub, role, area, unit)}"}


ADMIN = token("admin", "admin", [""])
WORKER = token("w1", "gridworker", [GRID], "grid-1")
SUPERVISOR = token("sup", "supervisor", ["320508"])
OTHER_DISTRICT = token("sup2", "supervisor", ["310101"])


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def assign(client, incident_id: str) -> None:
    """What intake's consumer does when routing assigns the case."""
    container = client.app.state.container
    event = IncidentAssigned(incident_id=uuid.UUID(incident_id), at=container.clock.now(), category="city.garbage",
                             urgency="normal", grid_code=GRID, reason="located",
                             owner=Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1"))
    await handle(container.bus, event)


async def test_concurrent_requests_with_one_idempotency_key_make_exactly_one_case(intake):
    headers = {**WORKER, "Idempotency-Key": "offline-queue-0001"}
    responses = await asyncio.gather(*[intake.post("/v1/incidents", json=WORKER_REPORT, headers=headers)
                                       for _ in range(8)])
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 1
    assert await count(intake.dsn, "SELECT count(*) FROM outbox") == 1


async def test_same_key_with_another_body_is_409_and_stores_nothing(intake):
    headers = {**WORKER, "Idempotency-Key": "k-2"}
    assert (await intake.post("/v1/incidents", json=WORKER_REPORT, headers=headers)).status_code == 202
    other = await intake.post("/v1/incidents", json={**WORKER_REPORT, "title": "另一件事"}, headers=headers)
    assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 1


async def test_lifecycle_over_http_with_roles_areas_and_a_full_timeline(intake):
    incident_id = (await intake.post("/v1/incidents", json=REPORT, headers=ADMIN)).json()["id"]
    url = f"/v1/incidents/{incident_id}/actions"
    # not located yet: the centre's case, an action elsewhere is refused (DESIGN §5)
    assert (await intake.post(url, json={"action": "sign"}, headers=WORKER)).status_code == 403
    early = await intake.post(url, json={"action": "sign"}, headers=token("city", "supervisor", [""]))
    assert early.status_code == 409 and early.json()["allowed_actions"] == ["merge", "reject"]
    await assign(intake, incident_id)

    assert (await intake.post(url, json={"action": "sign"}, headers=SUPERVISOR)).status_code == 403
    assert (await intake.post(url, json={"action": "sign"}, headers=OTHER_DISTRICT)).status_code == 403
    signed = await intake.post(url, json={"action": "sign"}, headers=WORKER)
    assert signed.status_code == 200 and signed.json()["status"] == "in_progress"
    steps = [
        (WORKER, {"action": "progress", "note": "已联系物业"}, "in_progress"),
        (WORKER, {"action": "request_extension", "working_days": 2, "reason": "等待环卫车辆"}, "in_progress"),
        (SUPERVISOR, {"action": "decide_extension", "approved": True}, "in_progress"),
        (WORKER, {"action": "submit_result", "result": "垃圾已清运"}, "pending_verification"),
        (SUPERVISOR, {"action": "verify", "passed": False, "note": "仍有残留"}, "in_progress"),
        (WORKER, {"action": "submit_result", "result": "已彻底清理"}, "pending_verification"),
        (SUPERVISOR, {"action": "verify", "passed": True}, "closed"),
        (SUPERVISOR, {"action": "visit", "contacted": "yes", "solved": "yes", "satisfied": "satisfied"}, "visited"),
    ]
    for headers, body, status in steps:
        response = await intake.post(url, json=body, headers=headers)
        assert response.status_code == 200, (body, response.text)
        assert response.json()["status"] == status
    case = (await intake.get(f"/v1/incidents/{incident_id}", headers=SUPERVISOR)).json()
    assert [t["action"] for t in case["timeline"]] == [
        "received", "assigned", "sign", "progress", "request_extension", "decide_extension", "submit_result",
        "verify", "submit_result", "verify", "close", "visit"]
    assert all(t["actor"] and t["at"] for t in case["timeline"])
    assert (await intake.get(f"/v1/incidents/{incident_id}", headers=OTHER_DISTRICT)).status_code == 404
    # received + one per step (verify passed adds closed); the assignment is routing's event, not ours.
    assert await count(intake.dsn, "SELECT count(*) FROM outbox") == 11


@pytest.mark.parametrize("body, status", [
    ({"action": "teleport"}, 422),
    ({"action": "return"}, 422),                              # reason missing
    ({"action": "request_extension", "reason": "x"}, 422),     # no amount
    ({"action": "merge", "into": "not-a-uuid"}, 422),
    ({"action": "sign", "extra": 1}, 422),
])
async def test_bad_action_bodies_are_422_and_change_nothing(intake, body, status):
    incident_id = (await intake.post("/v1/incidents", json=WORKER_REPORT, headers=WORKER)).json()["id"]
    await assign(intake, incident_id)
    response = await intake.post(f"/v1/incidents/{incident_id}/actions", json=body, headers=WORKER)
    assert response.status_code == status and response.json()["status"] == status
    case = (await intake.get(f"/v1/incidents/{incident_id}", headers=WORKER)).json()
    assert case["status"] == "assigned" and len(case["timeline"]) == 2


async def test_unknown_case_is_404_and_oversize_body_is_413(intake):
    missing = await intake.post(f"/v1/incidents/{uuid.uuid4()}/actions", json={"action": "sign"}, headers=WORKER)
    assert missing.status_code == 404
    huge = {**REPORT, "description": "x" * 2_000_000}
    response = await intake.post("/v1/incidents", content=json.dumps(huge), headers={**WORKER,
                                                                               "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["status"] == 413
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 0


async def test_a_gridworker_reports_only_inside_its_own_area(intake):
    outside = await intake.post("/v1/incidents", json={**REPORT, "grid_code": "320508019045001"}, headers=WORKER)
    assert outside.status_code == 403
    inside = await intake.post("/v1/incidents", json={**REPORT, "grid_code": GRID}, headers=WORKER)
    assert inside.status_code == 202
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 1


@pytest.mark.parametrize("role", ["supervisor", "leader", "community", "street", "department"])
async def test_every_caller_bound_to_an_area_reports_only_inside_it(intake, role):
    """Issue 15: only grid workers were checked; a supervisor of 姑苏区 could report in 黄浦区."""
    caller = token(f"{role}-a", role, ["320508"])
    elsewhere = await intake.post("/v1/incidents", json={**REPORT, "grid_code": "310101001001001"}, headers=caller)
    assert elsewhere.status_code == 403 and elsewhere.headers["content-type"] == "application/problem+json"
    assert "outside the caller's area" in elsewhere.json()["detail"]
    unplaced = await intake.post("/v1/incidents", json=REPORT, headers=caller)  # a bare point: cannot be checked
    assert unplaced.status_code == 422 and unplaced.json()["errors"][0]["field"] == "grid_code"
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 0
    inside = await intake.post("/v1/incidents", json={**REPORT, "grid_code": GRID}, headers=caller)
    assert inside.status_code == 202
    anywhere = await intake.post("/v1/incidents", json={**REPORT, "grid_code": "310101001001001"},
                                 headers=token("city", role, [""]))
    assert anywhere.status_code == 202  # a city-wide caller reports anywhere, with a point alone too
    assert (await intake.post("/v1/incidents", json=REPORT, headers=token("city", role, [""]))).status_code == 202


@pytest.mark.parametrize("source, door", [("hotline", "/v1/hotline/orders"), ("public", "Open311")])
async def test_a_report_cannot_claim_to_come_from_12345_or_the_public(intake, source, door):
    """Issue 15: a report could say `source: hotline` (or public) and pass for a 12345 order."""
    response = await intake.post("/v1/incidents", json={**REPORT, "source": source}, headers=ADMIN)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == "source" and door in problem["detail"]
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 0


async def test_categories_are_served_from_the_seed_table(intake):
    categories = (await intake.get("/v1/categories")).json()
    assert len(categories) == 36
    fire = next(c for c in categories if c["code"] == "safety.fire")
    assert fire == {"code": "safety.fire", "name_zh": "消防隐患 (通道堵塞、飞线充电)", "name_en": "fire hazard",
                    "default_owner": "community", "default_urgency": "urgent"}


async def test_search_filters_and_pages_by_keyset_inside_the_callers_area(intake):
    other_grid = "320508019045002"
    for i in range(5):
        await intake.post("/v1/incidents", headers=ADMIN, json={**REPORT, "grid_code": GRID, "title": f"a{i}"})
    for i in range(3):
        await intake.post("/v1/incidents", headers=ADMIN,
                          json={**REPORT, "grid_code": other_grid, "category": "env.noise", "title": f"b{i}"})
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await intake.get("/v1/incidents", params=params, headers=ADMIN)).json()
        seen += [item["title"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["b2", "b1", "b0", "a4", "a3", "a2", "a1", "a0"]  # newest first, each once

    noise = (await intake.get("/v1/incidents", params={"category": "env.noise"}, headers=ADMIN)).json()
    assert [i["title"] for i in noise["items"]] == ["b2", "b1", "b0"]
    in_grid = (await intake.get("/v1/incidents", params={"grid_prefix": GRID}, headers=ADMIN)).json()
    assert len(in_grid["items"]) == 5
    mine = (await intake.get("/v1/incidents", headers=WORKER)).json()  # a grid worker sees its own grid only
    assert {i["grid_code"] for i in mine["items"]} == {GRID}
    assert (await intake.get("/v1/incidents", params={"status": "closed"}, headers=ADMIN)).json()["items"] == []
    for bad in ({"cursor": "garbage"}, {"grid_prefix": "32a"}, {"limit": 0}, {"status": "lost"},
                {"since": "2026-11-23T00:00:00"}, {"until": "0001-01-01T00:00:00+08:00"}):
        response = await intake.get("/v1/incidents", params=bad, headers=ADMIN)
        assert response.status_code == 422, bad


async def test_concurrent_reports_are_committed_together_each_with_its_timeline_and_outbox_row(intake):
    responses = await asyncio.gather(*[
        intake.post("/v1/incidents", headers=WORKER, json={**WORKER_REPORT, "title": f"并发{n}",
                                                           "location": {"lon": 120.5 + n / 100, "lat": 31.31}})
        for n in range(40)])
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 40
    for table in ("incident", "timeline_entry", "outbox"):
        assert await count(intake.dsn, f"SELECT count(*) FROM {table}") == 40
    committer = intake.app.state.container.reports
    assert committer.reports == 40 and committer.batches < 40  # grouped, not one transaction each
    case = (await intake.get(f"/v1/incidents/{responses[7].json()['id']}", headers=ADMIN)).json()
    assert case["title"] == "并发7" and [t["action"] for t in case["timeline"]] == ["received"]


async def test_concurrent_requests_with_one_key_and_different_bodies_make_one_case_and_409s(intake):
    headers = {**WORKER, "Idempotency-Key": "offline-queue-0002"}
    bodies = [WORKER_REPORT, {**WORKER_REPORT, "title": "另一件事"}] * 4
    responses = await asyncio.gather(*[intake.post("/v1/incidents", json=b, headers=headers) for b in bodies])
    accepted = [r for r in responses if r.status_code == 202]
    assert {r.status_code for r in responses} == {202, 409}
    assert len({r.json()["id"] for r in accepted}) == 1 and len(accepted) == 4
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 1


@pytest.mark.parametrize("headers, content, status", [
    ({}, json.dumps(REPORT), 401),
    ({**WORKER}, "{not json", 422),
    ({**WORKER}, json.dumps({**WORKER_REPORT, "urgency": "whenever"}), 422),
    ({**WORKER}, json.dumps({**WORKER_REPORT, "category": "no.such"}), 422),
    ({**WORKER, "Idempotency-Key": "k" * 201}, json.dumps(WORKER_REPORT), 422),
    ({**WORKER}, json.dumps({**WORKER_REPORT, "description": "楼道\u0000堆物"}), 422),  # Postgres cannot store a NUL
    ({**WORKER}, json.dumps({**WORKER_REPORT, "reported_at": "0001-01-01T00:00:00+08:00"}), 422),  # year 0 in UTC
])
async def test_bad_reports_are_problems_and_store_nothing(intake, headers, content, status):
    response = await intake.post("/v1/incidents", content=content,
                                 headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json" and response.json()["status"] == status
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 0


async def test_the_document_shows_the_report_body_and_key_and_every_reference_resolves(intake):
    document = (await intake.get("/openapi.json")).json()
    operation = document["paths"]["/v1/incidents"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IncidentIn"}
    assert [p["name"] for p in operation["parameters"]] == ["idempotency-key"]
    schemas = document["components"]["schemas"]
    assert {"IncidentIn", "Location", "Reporter", "HotlineOrderIn", "Citizen"} <= schemas.keys()

    def references(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    missing = {ref for ref in references(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()


async def test_a_resend_and_a_report_beside_it_in_one_batch_are_each_answered_right(intake):
    """B lies next to A, so the batch links B to A; but A's key is held by an earlier case, so A is not stored and
    the link fails the batch's statement. Taken again one by one, A answers with the earlier case and B is new."""
    c = commands
    key_headers = {**WORKER, "Idempotency-Key": "offline-queue-0003"}
    far = {**WORKER_REPORT, "location": {"lon": 120.7, "lat": 31.4}}
    earlier = (await intake.post("/v1/incidents", json=far, headers=key_headers)).json()["id"]
    actor = c.Actor("w1", "gridworker", (GRID,), "grid-1")
    here = Point(lon=120.61, lat=31.31)
    resend = c.ReportIncident(
        source="gridworker", category="city.garbage", urgency="normal", title="重发", location=here, actor=actor,
        idempotency_key=c.IdempotencyKey("w1", "offline-queue-0003",
                                         s.IncidentIn.model_validate(far).model_dump_json()))
    beside = c.ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="旁边",
                              location=here, actor=actor)
    committer = intake.app.state.container.reports
    batches = committer.batches
    first, second = await asyncio.gather(committer.submit(resend), committer.submit(beside))
    assert committer.batches == batches + 1  # one batch, taken again one by one inside it
    assert str(first.id) == earlier
    assert second.title == "旁边" and second.duplicate_of is None
    assert await count(intake.dsn, "SELECT count(*) FROM incident") == 2
    assert await count(intake.dsn, "SELECT count(*) FROM outbox") == 2


async def test_every_business_timestamp_comes_from_the_service_clock_not_the_databases(intake):
    """Under the virtual clock the database's now() is months away: updated_at follows the service clock."""
    from datetime import UTC, datetime, timedelta

    from services.intake.bootstrap import message_bus
    from services.intake.domain.duplicates import DuplicatePolicy
    from services.intake.service_layer.group_commit import ReportCommitter
    from services.intake.service_layer.unit_of_work import PgIntakeUnitOfWork, PgReportUnitOfWork
    from tests.support import FixedClock

    clock = FixedClock(datetime(2030, 3, 1, 9, 0, tzinfo=UTC))
    pool = intake.app.state.container.pool
    duplicates = DuplicatePolicy()
    reports = ReportCommitter(lambda: PgReportUnitOfWork(pool, clock), duplicates)
    bus = message_bus(lambda: PgIntakeUnitOfWork(pool, clock), reports=reports, duplicates=duplicates)
    try:
        case = await bus.handle(commands.ReportIncident(source="gridworker", category="city.garbage",
                                                        urgency="normal", title="远期", location=None))
        clock.advance(hours=2)
        await handle(bus, IncidentAssigned(incident_id=case.id, at=clock.now(), category="city.garbage",
                                           urgency="normal", grid_code=GRID, reason="located",
                                           owner=Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid")))
    finally:
        await reports.close()
    row = await pool.fetchrow("SELECT received_at, updated_at FROM incident WHERE id = $1", case.id)
    assert row["received_at"] == datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
    assert row["updated_at"] == row["received_at"] + timedelta(hours=2)


async def test_a_suspension_asked_for_granted_and_ended_by_the_resumer_on_the_real_database(intake):
    """DOMAIN §4–§5 挂起: the owner asks, the centre of the case's area grants, and at `until` the resumer (its
    SKIP LOCKED query on the partial index) resumes the case once, with `resumed` in the outbox."""
    from datetime import UTC, datetime, timedelta

    from services.intake.bootstrap import message_bus
    from services.intake.domain.duplicates import DuplicatePolicy
    from services.intake.service_layer.unit_of_work import PgIntakeUnitOfWork
    from tests.support import FixedClock

    incident_id = (await intake.post("/v1/incidents", json=WORKER_REPORT, headers=WORKER)).json()["id"]
    await assign(intake, incident_id)
    actions = f"/v1/incidents/{incident_id}/actions"
    assert (await intake.post(actions, json={"action": "sign"}, headers=WORKER)).status_code == 200
    until = datetime.now(UTC) + timedelta(days=1)
    asked = await intake.post(actions, headers=WORKER, json={"action": "request_suspension", "reason": "待法院判决",
                                                             "until": until.isoformat()})
    assert asked.status_code == 200, asked.text
    case = (await intake.get(f"/v1/incidents/{incident_id}", headers=SUPERVISOR)).json()
    assert case["pending_suspension"]["reason"] == "待法院判决" and case["status"] == "in_progress"
    far = await intake.post(actions, headers=OTHER_DISTRICT, json={"action": "decide_suspension", "approved": True})
    assert far.status_code == 403  # an action on another district's case is refused
    granted = await intake.post(actions, headers=SUPERVISOR, json={"action": "decide_suspension", "approved": True})
    assert granted.status_code == 200 and granted.json()["status"] == "suspended"

    pool = intake.app.state.container.pool
    later = FixedClock(until + timedelta(minutes=1))
    bus = message_bus(lambda: PgIntakeUnitOfWork(pool, later), reports=None, duplicates=DuplicatePolicy())
    assert await bus.handle(commands.ResumeDueSuspensions()) == 1
    assert await bus.handle(commands.ResumeDueSuspensions()) == 0
    case = (await intake.get(f"/v1/incidents/{incident_id}", headers=SUPERVISOR)).json()
    assert case["status"] == "in_progress" and case["suspended_until"] is None
    assert [(t["action"], t["actor"]) for t in case["timeline"]][-1] == ("resume", "system")
    types = [r["type"] for r in await pool.fetch("SELECT payload::json->>'type' AS type FROM outbox ORDER BY id")]
    assert types[-4:] == ["intake.incident.suspension_requested", "intake.incident.suspension_decided",
                          "intake.incident.suspended", "intake.incident.resumed"]


async def test_the_centres_queues_list_what_waits_for_it_inside_the_callers_area(intake):
    """Issue 16 (the centre's queues): `queue=centre` lists the open cases routing handed to the centre that no one
    has taken since, each with its queue, why and since when (a kind alone with queue=final_dispatch …); a case
    dispatched leaves it; `queue=extension|suspension` lists the owners' requests awaiting the centre's decision;
    all inside the caller's area (a case with no place: the city's only)."""
    from shared.events.routing import IncidentUnroutable

    container = intake.app.state.container

    async def report(grid: str | None, title: str) -> str:
        body = {**REPORT, "title": title, **({"grid_code": grid} if grid else {})}
        return str((await intake.post("/v1/incidents", json=body, headers=ADMIN)).json()["id"])

    async def to_the_centre(incident_id: str, queue: str, grid: str | None, reason: str) -> None:
        await handle(container.bus, IncidentUnroutable(
            incident_id=uuid.UUID(incident_id), at=container.clock.now(), category="city.garbage", urgency="normal",
            grid_code=grid, reason=reason, queue=queue))

    unplaced = await report(None, "无处安放")
    await to_the_centre(unplaced, "unplaced", None, "nothing matched the registry")
    twice = await report(GRID, "二次退单")
    await assign(intake, twice)
    for _ in range(2):
        returned = await intake.post(f"/v1/incidents/{twice}/actions", headers=WORKER,
                                     json={"action": "return", "reason": "非本单位职责"})
        assert returned.status_code == 200, returned.text
        if _ == 0:
            await assign(intake, twice)
    await to_the_centre(twice, "final_dispatch", GRID, "returned 2 time(s): 终审")
    elsewhere = await report("310101001001001", "外区待派")
    await to_the_centre(elsewhere, "dispatch", "310101001001001", "no owner")
    taken = await report(GRID, "已派走")
    await to_the_centre(taken, "unplaced", GRID, "no owner on duty")
    await assign(intake, taken)  # the dispatcher gave it an owner: out of the queue
    waiting = await report(GRID, "还没路由")  # routing has not decided yet: not the centre's

    async def titles(headers: dict[str, str], **params: str) -> list[str]:
        response = await intake.get("/v1/incidents", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["items"]]

    assert await titles(ADMIN, queue="centre") == ["外区待派", "二次退单", "无处安放"]
    assert await titles(SUPERVISOR, queue="centre") == ["二次退单"]  # its district's only; no unplaced case
    assert await titles(OTHER_DISTRICT, queue="centre") == ["外区待派"]
    assert await titles(ADMIN, queue="final_dispatch") == ["二次退单"]
    assert await titles(ADMIN, queue="unplaced") == ["无处安放"]
    [item] = (await intake.get("/v1/incidents", params={"queue": "final_dispatch"}, headers=ADMIN)).json()["items"]
    assert item["queue"]["kind"] == "final_dispatch" and "终审" in item["queue"]["reason"]
    assert item["queue"]["since"] and item["status"] == "returned"
    assert waiting not in [i["id"] for i in (await intake.get("/v1/incidents", params={"queue": "centre"},
                                                             headers=ADMIN)).json()["items"]]

    asking = await report(GRID, "申请延期")
    await assign(intake, asking)
    actions = f"/v1/incidents/{asking}/actions"
    assert (await intake.post(actions, json={"action": "sign"}, headers=WORKER)).status_code == 200
    asked = await intake.post(actions, headers=WORKER, json={"action": "request_extension", "amount": 3,
                                                             "unit": "working_days", "reason": "等待配件"})
    assert asked.status_code == 200, asked.text
    suspending = await report(GRID, "申请挂起")
    await assign(intake, suspending)
    asked = await intake.post(f"/v1/incidents/{suspending}/actions", headers=WORKER,
                              json={"action": "request_suspension", "reason": "待法院判决"})
    assert asked.status_code == 200, asked.text

    [extension] = (await intake.get("/v1/incidents", params={"queue": "extension"}, headers=SUPERVISOR)).json()[
        "items"]
    assert extension["title"] == "申请延期" and extension["pending_extension"]["reason"] == "等待配件"
    assert extension["queue"] is None
    assert await titles(SUPERVISOR, queue="suspension") == ["申请挂起"]
    assert await titles(OTHER_DISTRICT, queue="extension") == []
    decided = await intake.post(actions, headers=SUPERVISOR, json={"action": "decide_extension", "approved": False})
    assert decided.status_code == 200, decided.text
    assert await titles(SUPERVISOR, queue="extension") == []
    # The plain list shows a pending request too.
    assert any(i["pending_suspension"] for i in (await intake.get("/v1/incidents", headers=SUPERVISOR)).json()[
        "items"])
    for bad in ({"queue": "lost"}, {"queue": "centre", "status": "received"}):
        response = await intake.get("/v1/incidents", params=bad, headers=ADMIN)
        assert response.status_code == 422, bad


async def test_a_run_of_assignments_recorded_at_once_leaves_what_one_by_one_does(intake):
    """The consumer hands a run of routing's decisions to record_assignments (the cases read and locked in one
    statement): every case, timeline entry and outbox row is what recording them one by one leaves; so for a run of
    改派 after it."""
    container = intake.app.state.container
    pool = container.pool
    ids = []
    for n in range(4):
        report = {**REPORT, "title": f"第{n}件", "location": {"lon": 120.61 + n * 0.01, "lat": 31.31}}
        response = await intake.post("/v1/incidents", json=report, headers=ADMIN)
        assert response.status_code == 202, response.text
        ids.append(uuid.UUID(response.json()["id"]))
    at = container.clock.now()
    grid = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
    community = Owner(unit_id="community-1", unit_name="一社区", unit_kind="community")
    run = [IncidentAssigned(incident_id=case, at=at + timedelta(minutes=n), category="city.garbage",
                            urgency="normal", grid_code=GRID, reason="located", owner=grid,
                            co_owners=[community] if n == 2 else [])
           for n, case in enumerate(ids)]
    run += [IncidentReassigned(incident_id=case, at=at + timedelta(hours=1, minutes=n), category="city.garbage",
                               urgency="normal", grid_code=GRID, reason="returned", owner=community)
            for n, case in enumerate(ids[:2])]
    columns = [r["column_name"] for r in await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'incident' AND column_name <> 'id'")]
    await pool.execute("CREATE TABLE incident_before AS SELECT * FROM incident")
    entries = await pool.fetchval("SELECT coalesce(max(id), 0) FROM timeline_entry")
    published = await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")

    async def read(pool):
        cases = [tuple(r) for r in await pool.fetch(f"SELECT id, {', '.join(columns)} FROM incident ORDER BY id")]
        timeline = await pool.fetch("SELECT incident_id, at, action, actor, detail FROM timeline_entry WHERE id > $1"
                                    " ORDER BY id", entries)
        outbox = await pool.fetch("SELECT payload FROM outbox WHERE id > $1 ORDER BY id", published)
        return (cases, {case: [tuple(r)[1:] for r in timeline if r["incident_id"] == case] for case in ids},
                [{k: v for k, v in json.loads(r["payload"]).items() if k not in ("id", "time", "causationid")}
                 for r in outbox])

    async def reset(pool):
        await pool.execute("DELETE FROM timeline_entry WHERE id > $1", entries)
        await pool.execute("DELETE FROM outbox WHERE id > $1", published)
        await pool.execute(f"UPDATE incident i SET ({', '.join(columns)}) = (SELECT {', '.join(columns)}"
                           " FROM incident_before b WHERE b.id = i.id)")

    one_by_one, as_a_run, calls = await one_by_one_then_as_a_run(container.bus, pool, run, read, reset)
    assert calls == [4, 2]
    assert as_a_run == one_by_one
    assert all(len(entries_of) >= 1 for entries_of in as_a_run[1].values())
    # Each case's updated_at is its last decision's time (the service clock's, per case).
    updated = {row[0]: row[columns.index("updated_at") + 1] for row in as_a_run[0]}
    assert [updated[case] for case in ids] == [at + timedelta(hours=1), at + timedelta(hours=1, minutes=1),
                                               at + timedelta(minutes=2), at + timedelta(minutes=3)]
