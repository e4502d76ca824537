"""One incident through every real process: report → assignment → yellow → red → SMS and SSE.

And the same journey while relays, consumers and the ticker are killed with SIGKILL and restarted:
still exactly one assignment, one of each light change and one SMS per light.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import asyncpg
import httpx
import pytest

from shared.auth import issue_token
from shared.messaging.topics import INCIDENTS
from shared.settings import DEV_JWT_SECRET
from shared.signing import sign
from tests.e2e.stack import Stack, alert_stream, eventually
from tests.support import ROOT, published_records

SCHOOL_WORKER_PHONE = "13900000099"
GRID_1_WORKER = {"id": "gw-320508019044001", "phone": "13900000001", "unit": "grid-320508019044001"}
IN_GRID_1 = {"lon": 120.612, "lat": 31.31}  # 梅花社区第1网格, outside the school


def load_city(stack: Stack) -> None:
    stack.run("routing", "load-city", str(ROOT / "deploy/demo/small-city.geojson"),
              str(ROOT / "deploy/demo/small-city-people.json"))


def auth(stack: Stack, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or stack.admin_token}"}


async def report_urgent(http: httpx.AsyncClient, stack: Stack) -> str:
    response = await http.post(stack.url("intake") + "/v1/incidents", headers=auth(stack), json={
        # dispute.neighbour is the grid's by rule; urgent gives a 2-hour sign limit
        "source": "gridworker", "category": "dispute.neighbour", "urgency": "urgent", "title": "楼上漏水邻里纠纷",
        "location": IN_GRID_1, "reporter": {"name": "王先生", "phone": "13812345678"}})
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def assigned(http: httpx.AsyncClient, stack: Stack, incident_id: str):
    body = (await http.get(f"{stack.url('intake')}/v1/incidents/{incident_id}", headers=auth(stack))).json()
    return body if body["status"] == "assigned" else None


async def clock_state(http: httpx.AsyncClient, stack: Stack, incident_id: str) -> dict | None:
    response = await http.get(f"{stack.url('supervision')}/v1/clocks/{incident_id}", headers=auth(stack))
    return response.json() if response.status_code == 200 else None


async def advance(http: httpx.AsyncClient, stack: Stack, seconds: float) -> None:
    response = await http.post(stack.url("supervision") + "/v1/clock/advance", headers=auth(stack),
                               json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def sms_to(http: httpx.AsyncClient, stack: Stack, phone: str) -> list[dict]:
    return (await http.get(stack.url("sms") + "/sms", params={"phone": phone})).json()


async def read_sse(stack: Stack, token: str, count: int, timeout: float = 20.0,
                   last_event_id: str | None = None) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict] = []
    try:
        async with httpx.AsyncClient(timeout=timeout) as http, asyncio.timeout(timeout):
            async for event in alert_stream(http, stack.url("notifications"), headers):
                events.append(event)
                if len(events) >= count:
                    break
    except TimeoutError:
        pass  # fewer events than asked for: the caller's assertion decides
    return events


async def test_report_to_red_light_to_sms_and_sse(stack: Stack):
    load_city(stack)
    async with httpx.AsyncClient(timeout=10) as http:
        for service in ("intake", "routing", "supervision", "notifications"):
            assert (await http.get(stack.url(service) + "/health")).json()["status"] == "ok"
            assert (await http.get(stack.url(service) + "/ready")).json()["checks"] == {"database": "ok", "kafka": "ok"}
            assert "http_requests_total" in (await http.get(stack.url(service) + "/metrics")).text
        incident_id = await report_urgent(http, stack)
        case = await eventually(lambda: assigned(http, stack, incident_id))
        assert case["owner"]["worker_id"] == GRID_1_WORKER["id"]
        assert case["grid_code"] == "320508019044001"
        assert [t["action"] for t in case["timeline"]] == ["received", "assigned"]

        sign_clock = await eventually(lambda: clock_state(http, stack, incident_id))
        assert (sign_clock["phase"], sign_clock["light"], sign_clock["level"]) == ("sign", "green", "none")
        notice = await eventually(lambda: sms_to(http, stack, GRID_1_WORKER["phone"]))
        assert "新案件" in notice[0]["text"]  # the owner hears of the case on assignment

        await advance(http, stack, 1.5 * 3600)  # urgent sign limit is 2 h: yellow at 70 %
        await eventually(lambda: _clock_is(http, stack, incident_id, light="yellow"))
        texts = await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 2))
        assert "黄灯" in texts[1]["text"] and "签收" in texts[1]["text"]

        await advance(http, stack, 3600)
        red = await eventually(lambda: _clock_is(http, stack, incident_id, light="red"))
        assert red["level"] == "yellow_card"
        texts = await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 3))
        assert "红灯" in texts[2]["text"]

        supervisor = issue_token(DEV_JWT_SECRET, "sup", "supervisor", ["320508"])
        alerts = await read_sse(stack, supervisor, count=4)
        mine = [a for a in alerts if a["data"]["incident_id"] == incident_id]
        assert [(a["event"], a["data"].get("light") or a["data"].get("level")) for a in mine] == [
            ("supervision.light.changed", "yellow"), ("supervision.escalation.raised", "reminder"),
            ("supervision.light.changed", "red"), ("supervision.escalation.raised", "yellow_card")]
        resumed = await read_sse(stack, supervisor, count=1, last_event_id=mine[2]["id"])
        assert resumed[0]["id"] == mine[3]["id"]
        other_area = issue_token(DEV_JWT_SECRET, "sup2", "supervisor", ["310101"])
        assert await read_sse(stack, other_area, count=1, timeout=2) == []

        answers: list[httpx.Response] = []

        async def deliveries_listed() -> list[dict] | None:
            # As a client reads it: a 503 with Retry-After (a pool short of connections on a crowded machine, two
            # of every role) is asked again; anything else is what it is.
            answer = await http.get(stack.url("notifications") + "/v1/deliveries", headers=auth(stack),
                                    params={"incident_id": incident_id})
            answers.append(answer)
            return answer.json() if answer.status_code != 503 else None

        deliveries = await eventually(deliveries_listed, timeout=30)
        assert answers[-1].status_code == 200, answers[-1].text
        assert [(d["channel"], d["status"]) for d in deliveries] == [("sms", "sent")] * 3

        # The owner signs: the sign clock stops and the handle clock starts green.
        worker = issue_token(DEV_JWT_SECRET, GRID_1_WORKER["id"], "gridworker", ["320508019044001"],
                             unit=GRID_1_WORKER["unit"])
        signed = await http.post(f"{stack.url('intake')}/v1/incidents/{incident_id}/actions",
                                 headers=auth(stack, worker), json={"action": "sign"})
        assert signed.status_code == 200, signed.text
        handle = await eventually(lambda: _clock_is(http, stack, incident_id, phase="handle"))
        assert handle["light"] == "green"
        again = await http.post(f"{stack.url('intake')}/v1/incidents/{incident_id}/actions",
                                headers=auth(stack, worker), json={"action": "sign"})
        assert again.status_code == 409 and again.json()["allowed_actions"] == [
            "progress", "return", "refer_up", "request_extension", "decide_extension", "request_suspension",
            "decide_suspension", "suspend", "submit_result", "merge"]


async def _clock_is(http, stack, incident_id, **expected):
    """The case's current clock once it shows `expected` (light, phase or level), else None."""
    state = await clock_state(http, stack, incident_id)
    return state if state and all(state[k] == v for k, v in expected.items()) else None


async def _sms_count(http, stack, phone, count):
    messages = await sms_to(http, stack, phone)
    return messages if len(messages) >= count else None


async def test_bad_input_gets_problem_json_and_stores_nothing(stack: Stack):
    url = stack.url("intake") + "/v1/incidents"
    good = {"source": "gridworker", "category": "city.garbage", "title": "垃圾", "location": IN_GRID_1}
    bad_bodies = [
        ("{not json", "application/json"),
        (json.dumps({**good, "category": "no.such.category"}), "application/json"),
        (json.dumps({k: v for k, v in good.items() if k != "title"}), "application/json"),
        (json.dumps({**good, "location": {"lon": "east", "lat": 31.3}}), "application/json"),
        (json.dumps({**good, "location": {"lon": 2.35, "lat": 48.85}}), "application/json"),  # Paris
        (json.dumps({**good, "urgency": "whenever"}), "application/json"),
        (json.dumps([good]), "application/json"),
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        for body, content_type in bad_bodies:
            response = await http.post(url, content=body, headers={**auth(stack), "Content-Type": content_type})
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["status"] == 422 and problem["title"] and problem["detail"]
            assert "Traceback" not in response.text
        no_token = await http.post(url, json=good)
        assert no_token.status_code == 401
    conn = await asyncpg.connect(stack.databases["intake"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM incident") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()
    # Nor was any event published (the relay deletes its outbox rows once it has).
    assert await published_records(stack.topic_prefix + INCIDENTS) == []


KILLABLE = [("intake", "relay"), ("routing", "consume"), ("routing", "relay"), ("supervision", "consume"),
            ("supervision", "relay"), ("supervision", "ticker"), ("notifications", "consume"),
            ("notifications", "relay"), ("notifications", "deliver"), ("intake", "consume")]


async def test_kill_minus_nine_anywhere_still_gives_exactly_one_of_each_effect(stack: Stack):
    load_city(stack)
    rng = random.Random(20261123)
    async with httpx.AsyncClient(timeout=10) as http:
        # Kill every worker role once before the case exists and once while its work is in flight.
        for role in KILLABLE[:5]:
            stack.restart(*role)
        incident_id = await report_urgent(http, stack)
        for role in rng.sample(KILLABLE, 4):
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            stack.restart(*role)
        await eventually(lambda: assigned(http, stack, incident_id), timeout=90)
        await eventually(lambda: clock_state(http, stack, incident_id), timeout=60)

        await advance(http, stack, 1.5 * 3600)
        for role in (("supervision", "ticker"), ("notifications", "consume"), ("notifications", "deliver")):
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            stack.restart(*role)
        await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 2), timeout=90)

        await advance(http, stack, 3600)
        for role in (("supervision", "relay"), ("supervision", "ticker"), ("notifications", "deliver")):
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            stack.restart(*role)
        await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 3), timeout=90)
        await asyncio.sleep(3)  # room for any duplicate to show up

        messages = await sms_to(http, stack, GRID_1_WORKER["phone"])
        assert len(messages) == 3, messages
        assert ["新案件" in messages[0]["text"], "黄灯" in messages[1]["text"], "红灯" in messages[2]["text"]] == [
            True, True, True]

    routing = await asyncpg.connect(stack.databases["routing"])
    supervision = await asyncpg.connect(stack.databases["supervision"])
    intake = await asyncpg.connect(stack.databases["intake"])
    notifications = await asyncpg.connect(stack.databases["notifications"])
    try:
        assert await routing.fetchval("SELECT count(*) FROM assignment WHERE incident_id = $1::uuid",
                                      incident_id) == 1
        assert await intake.fetchval("SELECT count(*) FROM timeline_entry WHERE incident_id = $1::uuid "
                                     "AND action = 'assigned'", incident_id) == 1
        clocks = await supervision.fetch("SELECT phase, light, level FROM phase_clock WHERE incident_id = $1::uuid",
                                         incident_id)
        assert [tuple(c) for c in clocks] == [("sign", "red", "yellow_card")]
        steps = [row["step"] for row in await supervision.fetch(
            "SELECT step FROM clock_alert, unnest(steps) WITH ORDINALITY AS s(step, n) ORDER BY id, n")]
        assert [step for step in steps if step in ("green", "yellow", "red")] == ["yellow", "red"]
        alerts = await notifications.fetch("SELECT event_type FROM alert WHERE incident_id = $1::uuid ORDER BY id",
                                           incident_id)
        assert [a["event_type"] for a in alerts].count("supervision.light.changed") == 2
        assert await notifications.fetchval("SELECT count(*) FROM delivery WHERE status = 'sent'") == 3
    finally:
        for conn in (routing, supervision, intake, notifications):
            await conn.close()


@pytest.fixture(autouse=True)
def _show_logs_on_failure(request, stack):
    yield
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(stack.logs())


async def test_a_12345_order_gets_its_signed_callbacks_in_order(stack: Stack):
    load_city(stack)
    body = json.dumps({"order_no": "GD-E2E-0001", "title": "邻居装修噪声", "content": "周末早上七点开始装修",
                       "category": "邻里纠纷", "urgency": "紧急", "lon": 120.612, "lat": 31.31,
                       "received_at": "2026-11-23T09:00:00+08:00"}, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    headers = {"X-Hotline-Timestamp": ts,
               "X-Hotline-Signature": sign("hotline-dev-secret", "POST", "/v1/hotline/orders", ts, body),
               "Content-Type": "application/json"}
    worker = issue_token(DEV_JWT_SECRET, GRID_1_WORKER["id"], "gridworker", ["320508019044001"],
                         unit=GRID_1_WORKER["unit"])
    city = issue_token(DEV_JWT_SECRET, "centre", "supervisor", [""])
    async with httpx.AsyncClient(timeout=10) as http:
        accepted = await http.post(stack.url("intake") + "/v1/hotline/orders", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        incident_id = accepted.json()["id"]
        case = await eventually(lambda: assigned(http, stack, incident_id))
        assert case["owner"]["worker_id"] == GRID_1_WORKER["id"]  # 邻里纠纷 → dispute.neighbour → the grid
        url = f"{stack.url('intake')}/v1/incidents/{incident_id}/actions"
        for token, action in ((worker, {"action": "sign"}), (worker, {"action": "submit_result", "result": "已调解"}),
                              (city, {"action": "verify", "passed": True})):
            response = await http.post(url, headers=auth(stack, token), json=action)
            assert response.status_code == 200, response.text

        async def callbacks():
            received = (await http.get(stack.url("sms") + "/webhook", params={"order_no": "GD-E2E-0001"})).json()
            return received if len(received) >= 4 else None

        received = await eventually(callbacks)
        assert [r["body"]["callback"] for r in received] == ["accepted", "signed", "result", "closed"]
        assert {r["body"]["incident_id"] for r in received} == {incident_id}
        assert received[2]["body"]["detail"]["result"] == "已调解"


async def test_an_sms_gateway_outage_delays_the_sms_and_it_arrives_once(stack: Stack):
    load_city(stack)
    async with httpx.AsyncClient(timeout=10) as http:
        incident_id = await report_urgent(http, stack)
        await eventually(lambda: clock_state(http, stack, incident_id))
        await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 1))  # the new-case notice
        stack.kill("notifications", "sms-gateway")           # the provider goes away
        await advance(http, stack, 1.5 * 3600)
        await eventually(lambda: _clock_is(http, stack, incident_id, light="yellow"))

        async def light_deliveries():
            rows = (await http.get(stack.url("notifications") + "/v1/deliveries", headers=auth(stack),
                                   params={"incident_id": incident_id})).json()
            return [r for r in rows if r["event_type"] == "supervision.light.changed"]

        async def failing_attempts():
            rows = await light_deliveries()
            return rows if rows and rows[0]["attempts"] >= 2 and rows[0]["status"] == "pending" else None

        pending = await eventually(failing_attempts)
        assert pending[0]["last_error"]                       # the connection error is kept
        stack.start("notifications", "sms-gateway")          # the provider comes back

        async def gateway_up():
            try:
                return (await http.get(stack.url("sms") + "/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(gateway_up)
        messages = await eventually(lambda: _sms_count(http, stack, GRID_1_WORKER["phone"], 2))
        await asyncio.sleep(2)
        assert len(await sms_to(http, stack, GRID_1_WORKER["phone"])) == len(messages) == 2  # notice + yellow
        assert "新案件" in messages[0]["text"] and "黄灯" in messages[1]["text"]
        [delivery] = await light_deliveries()
        assert delivery["status"] == "sent" and delivery["attempts"] >= 3


GRID_HEAD, COMMUNITY_SUPERVISOR, STREET_SUPERVISOR, DISTRICT_LEADER = (
    "13900000711", "13900000722", "13900000733", "13900000744")


async def test_the_whole_督办_ladder_reaches_each_level_s_people_once(stack: Stack):
    """Report → yellow (催办) → red (黄牌) → +1 h (红牌) → +2 h (领导督办): each level's SMS goes to the people
    the directory names for it (the unit's head; then the nearest supervisor above; then the district's
    leader), once each, and the supervisor's stream carries every step in order."""
    load_city(stack)
    async with httpx.AsyncClient(timeout=10) as http:
        contacts = {"320508019044001": {"name": "梅花社区第1网格", "leader": {"name": "网格长", "phone": GRID_HEAD}},
                    "320508019044": {"name": "梅花社区", "supervisor": {"name": "社区书记",
                                                                       "phone": COMMUNITY_SUPERVISOR}},
                    "320508019": {"name": "街道", "supervisor": {"name": "分管副主任", "phone": STREET_SUPERVISOR}},
                    "320508": {"name": "区", "leader": {"name": "分管副区长", "phone": DISTRICT_LEADER}}}
        for code, body in contacts.items():
            response = await http.put(f"{stack.url('notifications')}/v1/contacts/{code}", headers=auth(stack),
                                      json=body)
            assert response.status_code == 200, response.text
        incident_id = await report_urgent(http, stack)
        await eventually(lambda: assigned(http, stack, incident_id))
        await eventually(lambda: clock_state(http, stack, incident_id))

        async def sms_about(phone: str, count: int):
            texts = [m["text"] for m in await sms_to(http, stack, phone) if incident_id[:8] in m["text"]]
            return texts if len(texts) >= count else None

        # urgent sign: due at 2 h; 红牌 at due + 1 h, 领导督办 at due + 2 h (hour phases)
        for seconds, level in ((1.5 * 3600, "reminder"), (3600, "yellow_card"), (3600, "red_card"),
                               (3600, "leader")):
            await advance(http, stack, seconds)
            await eventually(lambda level=level: _clock_is(http, stack, incident_id, level=level))

        def levels(texts: list[str]) -> list[str]:  # the 黄牌 SMS may wait its bundling window: order is free
            return sorted(name for text in texts for name in ("黄牌督办", "红牌督办", "领导督办") if name in text)

        assert levels(await eventually(lambda: sms_about(GRID_HEAD, 3))) == ["红牌督办", "领导督办", "黄牌督办"]
        assert levels(await eventually(lambda: sms_about(COMMUNITY_SUPERVISOR, 2))) == ["红牌督办", "领导督办"]
        assert levels(await eventually(lambda: sms_about(DISTRICT_LEADER, 1))) == ["领导督办"]
        await asyncio.sleep(2)  # nothing more arrives: each (event, person, channel) once
        assert [len(await sms_about(phone, 0) or []) for phone in
                (GRID_HEAD, COMMUNITY_SUPERVISOR, STREET_SUPERVISOR, DISTRICT_LEADER)] == [3, 2, 0, 1]

        supervisor = issue_token(DEV_JWT_SECRET, "sup", "supervisor", ["320508"])
        alerts = [a for a in await read_sse(stack, supervisor, count=50, timeout=5)
                  if a["data"]["incident_id"] == incident_id]
        assert [a["data"].get("light") or a["data"].get("level") for a in alerts] == [
            "yellow", "reminder", "red", "yellow_card", "red_card", "leader"]
