"""The 12345 webhook in-process against a real Postgres: signatures, replay, idempotent orders,
category mapping, coordinates, and 12345's own events."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
import pytest

from services.intake.config import IntakeSettings
from services.intake.domain.coordinates import wgs84_to_bd09, wgs84_to_gcj02
from services.intake.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.settings import DEV_JWT_SECRET
from shared.signing import sign
from tests.integration.conftest import HOTLINE_SECRET
from tests.support import SERVICE_DIRS, serving

CITY = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'city', 'supervisor', [''])}"}


def order(**fields) -> dict:
    return {"order_no": "GD202611230001", "title": "夜间施工噪声扰民", "content": "小区旁工地每晚11点后仍在施工",
            "category": "噪声", "urgency": "一般", "address": "平江路100号", "lon": 120.61, "lat": 31.31,
            "citizen": {"name": "李女士", "phone": "13812345678"}, "received_at": "2026-11-23T09:00:00+08:00",
            "nature": "complaint", "channel": "phone", **fields}


def signed(body: bytes, secret: str = HOTLINE_SECRET, timestamp: int | None = None,
           path: str = "/v1/hotline/orders", method: str = "POST") -> dict[str, str]:
    """12345's headers (shared/signing.py): HMAC over method, path, timestamp and body."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"X-Hotline-Timestamp": ts, "X-Hotline-Signature": sign(secret, method, path, ts, body),
            "Content-Type": "application/json"}


async def post_order(client, body: dict, **sign_args):
    raw = json.dumps(body, ensure_ascii=False).encode()
    return await client.post("/v1/hotline/orders", content=raw, headers=signed(raw, **sign_args))


async def rows(dsn: str, sql: str):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_an_order_becomes_a_case_mapped_and_a_resend_returns_the_same_id(intake):
    first = await post_order(intake, order())
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["category"], body["urgency"], body["order_no"]) == ("env.noise", "normal", "GD202611230001")
    await asyncio.sleep(1.1)  # a later resend carries a new timestamp, hence a new signature
    again = await post_order(intake, order())
    assert again.status_code == 202 and again.json()["id"] == body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    [row] = await rows(intake.dsn, "SELECT source, hotline, reporter FROM incident")
    hotline, reporter = json.loads(row["hotline"]), json.loads(row["reporter"])
    assert row["source"] == "hotline" and hotline["mapped_by"] == "name" and hotline["category"] == "噪声"
    assert reporter["phone"] == "13812345678"
    assert len(await rows(intake.dsn, "SELECT 1 FROM outbox")) == 1


async def test_the_nature_of_an_order_is_taken_in_chinese_and_kept_in_english(intake):
    """DOMAIN §7 事项性质: 12345 sends 咨询/求助/投诉/举报/建议/表扬."""
    for n, (chinese, english) in enumerate([("投诉", "complaint"), ("咨询", "consultation"), ("表扬", "praise")]):
        response = await post_order(intake, order(order_no=f"GD-NATURE-{n}", nature=chinese, lon=120.6 + n / 100))
        assert response.status_code == 202, response.text
        [row] = await rows(intake.dsn, f"SELECT hotline FROM incident WHERE hotline_order_no = 'GD-NATURE-{n}'")
        assert json.loads(row["hotline"])["nature"] == english
    refused = await post_order(intake, order(order_no="GD-NATURE-X", nature="闲聊"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "nature"


async def test_concurrent_resends_of_one_order_make_one_case(intake):
    results = await asyncio.gather(*[post_order(intake, order(order_no="GD-CONC"), timestamp=int(time.time()) - i)
                                     for i in range(6)])
    assert {r.status_code for r in results} == {202}
    assert len({r.json()["id"] for r in results}) == 1
    assert len(await rows(intake.dsn, "SELECT 1 FROM incident")) == 1


async def test_unknown_category_goes_to_triage_and_urgency_is_the_higher_one(intake):
    response = await post_order(intake, order(order_no="GD-2", category="Z99 某未知分类", title="反映一个情况",
                                              content="", urgency="一般"))
    assert response.json()["category"] == "triage.unknown"
    gas = await post_order(intake, order(order_no="GD-3", category="其他", title="楼道里有燃气味", urgency="紧急"))
    # keyword 燃气 in the title → safety.gas, whose default urgency (emergency) beats the order's 紧急
    assert (gas.json()["category"], gas.json()["urgency"]) == ("safety.gas", "emergency")


async def test_gcj02_and_bd09_coordinates_are_stored_as_wgs84(intake):
    gcj, bd = wgs84_to_gcj02(120.61, 31.31), wgs84_to_bd09(120.62, 31.32)
    await post_order(intake, order(order_no="GD-GCJ", lon=gcj[0], lat=gcj[1], coord_sys="gcj02"))
    await post_order(intake, order(order_no="GD-BD", lon=bd[0], lat=bd[1], coord_sys="bd09"))
    stored = {r["hotline_order_no"]: (r["lon"], r["lat"]) for r in
              await rows(intake.dsn, "SELECT hotline_order_no, lon, lat FROM incident")}
    assert abs(stored["GD-GCJ"][0] - 120.61) < 1e-5 and abs(stored["GD-GCJ"][1] - 31.31) < 1e-5
    assert abs(stored["GD-BD"][0] - 120.62) < 1e-5 and abs(stored["GD-BD"][1] - 31.32) < 1e-5


async def test_bad_signature_expired_timestamp_and_replay_are_401_and_store_nothing(intake):
    raw = json.dumps(order(), ensure_ascii=False).encode()
    wrong = await intake.post("/v1/hotline/orders", content=raw, headers=signed(raw, secret="not-the-secret"))
    expired = await intake.post("/v1/hotline/orders", content=raw,
                                headers=signed(raw, timestamp=int(time.time()) - 301))
    unsigned = await intake.post("/v1/hotline/orders", content=raw, headers={"Content-Type": "application/json"})
    for response in (wrong, expired, unsigned):
        assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    assert await rows(intake.dsn, "SELECT 1 FROM incident") == []

    headers = signed(raw)
    assert (await intake.post("/v1/hotline/orders", content=raw, headers=headers)).status_code == 202
    replay = await intake.post("/v1/hotline/orders", content=raw, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]


async def test_invalid_orders_are_422_after_the_signature_check(intake):
    for bad in (order(received_at="2026-11-23T09:00:00"), order(lon=2.35, lat=48.85), order(lon=120.6, lat=None),
                {k: v for k, v in order().items() if k != "title"}, order(order_no="bad order no"),
                # Years Python cannot hold once turned to UTC: such a row could not be read back.
                order(received_at="0001-01-01T00:00:00+08:00"), order(deadline="9999-12-31T23:59:59-08:00")):
        response = await post_order(intake, bad)
        assert response.status_code == 422, bad
        assert response.json()["errors"]
    assert await rows(intake.dsn, "SELECT 1 FROM incident") == []


async def post_event(client, order_no: str, body: dict, at: int | None = None):
    """Signed at `at` (Unix seconds; default now)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    path = f"/v1/hotline/orders/{order_no}/events"
    timestamp = int(time.time()) if at is None else at
    return await client.post(path, content=raw, headers=signed(raw, timestamp=timestamp, path=path))


async def test_the_signature_covers_the_path_so_an_event_cannot_be_moved_to_another_order(intake):
    """Issue 15: the order number in the path is signed; a signature made for one order's event is no good for
    another's, nor for the orders endpoint, nor for another method."""
    for order_no in ("GD-A", "GD-B"):
        assert (await post_order(intake, order(order_no=order_no))).status_code == 202
    raw = json.dumps({"event_id": "EV-MOVE", "kind": "urge", "note": "催办"}, ensure_ascii=False).encode()
    headers = signed(raw, path="/v1/hotline/orders/GD-A/events")
    moved = await intake.post("/v1/hotline/orders/GD-B/events", content=raw, headers=headers)
    assert moved.status_code == 401 and moved.headers["content-type"] == "application/problem+json"
    as_order = await intake.post("/v1/hotline/orders", content=raw, headers=signed(raw, path="/v1/hotline/orders/"
                                                                                            "GD-A/events"))
    assert as_order.status_code == 401
    other_method = await intake.post("/v1/hotline/orders/GD-A/events", content=raw,
                                     headers=signed(raw, path="/v1/hotline/orders/GD-A/events", method="PUT"))
    assert other_method.status_code == 401
    types = [r["t"] for r in await rows(intake.dsn, "SELECT payload::jsonb->>'type' AS t FROM outbox")]
    assert "intake.incident.urged" not in types
    right = await intake.post("/v1/hotline/orders/GD-A/events", content=raw, headers=headers)
    assert right.status_code == 200 and right.json()["applied"] is True


async def test_the_path_is_signed_percent_encoded_as_it_goes_on_the_request_line(intake):
    raw = json.dumps({"event_id": "EV-ENC", "kind": "urge"}, ensure_ascii=False).encode()
    url = httpx.URL("http://service/v1/hotline/orders/GD 苏 1/events")
    assert url.raw_path == b"/v1/hotline/orders/GD%20%E8%8B%8F%201/events"
    response = await intake.post(url, content=raw, headers=signed(raw, path=url.raw_path.decode()))
    assert response.status_code == 404, response.text  # signed right; no such order
    decoded = await intake.post(url, content=raw, headers=signed(raw, path="/v1/hotline/orders/GD 苏 1/events"))
    assert decoded.status_code == 401


@pytest.mark.parametrize("timestamp", ["1" * 5000, "9" * 13, "１７９５４２００００", "1795420000.5", "-1", "0x6b", " ",
                                       "1e9"])
async def test_a_malformed_timestamp_is_401_never_500(intake, timestamp):
    raw = json.dumps(order(), ensure_ascii=False).encode()
    signature = sign(HOTLINE_SECRET, "POST", "/v1/hotline/orders", timestamp, raw) if timestamp.isascii() else "0" * 64
    headers = {"X-Hotline-Timestamp": timestamp.encode(), "Content-Type": "application/json",
               "X-Hotline-Signature": signature}
    response = await intake.post("/v1/hotline/orders", content=raw, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for bad in ("0" * 5000, "签名", ""):
        response = await intake.post("/v1/hotline/orders", content=raw, headers={
            **headers, "X-Hotline-Timestamp": str(int(time.time())), "X-Hotline-Signature": bad.encode()})
        assert response.status_code == 401
    assert await rows(intake.dsn, "SELECT 1 FROM incident") == []


async def test_hotline_events_urge_and_visit_are_applied_once(intake):
    incident_id = (await post_order(intake, order(order_no="GD-EV"))).json()["id"]
    urge = {"event_id": "EV-1", "kind": "urge", "note": "市民再次来电催办"}
    now = int(time.time())
    assert (await post_event(intake, "GD-EV", urge, at=now)).json()["applied"] is True
    # Resent and signed again, a second apart: the same second would be the same signature, refused as a replay
    # (which the last CI run met, when a second's boundary fell between the two posts).
    assert (await post_event(intake, "GD-EV", urge, at=now - 1)).json()["applied"] is False
    case = (await intake.get(f"/v1/incidents/{incident_id}", headers=CITY)).json()
    assert [t["action"] for t in case["timeline"]] == ["received", "urge"]
    types = [r["t"] for r in await rows(intake.dsn, "SELECT payload::jsonb->>'type' AS t FROM outbox ORDER BY id")]
    assert types == ["intake.incident.received", "intake.incident.urged"]

    early_visit = await post_event(intake, "GD-EV", {"event_id": "EV-2", "kind": "visit_result",
                                                     "solved": "yes", "satisfied": "satisfied"})
    assert early_visit.status_code == 409  # the case is not closed yet
    assert (await post_event(intake, "GD-NONE", urge | {"event_id": "EV-3"})).status_code == 404


ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
CITY_MAPPING = {"rules": [
    {"kind": "code", "value": "030101", "category": "env.noise"},
    {"kind": "name", "value": "城市管理-噪声", "category": "env.noise"},
    {"kind": "prefix", "value": "0302", "category": "city.garbage"},
    {"kind": "keyword", "value": " 井盖 ", "category": "infra.manhole"},
]}


async def test_a_city_mapping_replaces_the_seed_and_new_orders_follow_it(intake):
    seed = (await intake.get("/v1/hotline/category-map", headers=CITY)).json()["rules"]
    assert {"kind": "name", "value": "噪声", "category": "env.noise"} in seed
    loaded = await intake.put("/v1/hotline/category-map", json=CITY_MAPPING, headers=ADMIN)
    assert loaded.status_code == 200, loaded.text
    expected = sorted(({**r, "value": r["value"].strip()} for r in CITY_MAPPING["rules"]),
                      key=lambda r: (r["kind"], r["value"]))
    assert loaded.json()["rules"] == expected
    assert (await intake.get("/v1/hotline/category-map", headers=CITY)).json()["rules"] == expected

    by_code = await post_order(intake, order(order_no="GD-MAP-1", category="030101"))
    by_prefix = await post_order(intake, order(order_no="GD-MAP-2", category="030299"))
    by_old_name = await post_order(intake, order(order_no="GD-MAP-3", category="噪声", title="反映问题",
                                                 content="楼下有人吵"))
    assert by_code.json()["category"] == "env.noise" and by_prefix.json()["category"] == "city.garbage"
    assert by_old_name.json()["category"] == "triage.unknown"  # the seed rules are gone


@pytest.mark.parametrize("rules, fields", [
    ([*CITY_MAPPING["rules"], {"kind": "code", "value": "9", "category": "no.such"}], ["rules.4.category"]),
    ([*CITY_MAPPING["rules"], {"kind": "code", "value": "030101", "category": "city.garbage"}], ["rules.4.value"]),
    ([{"kind": "guess", "value": "x", "category": "env.noise"}], ["rules.0.kind"]),
    ([{"kind": "code", "value": "  ", "category": "env.noise"}], ["rules.0.value"]),
    ([], ["rules"]),
])
async def test_a_bad_mapping_is_422_naming_the_row_and_changes_nothing(intake, rules, fields):
    before = (await intake.get("/v1/hotline/category-map", headers=CITY)).json()
    response = await intake.put("/v1/hotline/category-map", json={"rules": rules}, headers=ADMIN)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == fields
    assert (await intake.get("/v1/hotline/category-map", headers=CITY)).json() == before


async def test_only_an_admin_loads_a_mapping(intake):
    assert (await intake.put("/v1/hotline/category-map", json=CITY_MAPPING, headers=CITY)).status_code == 403
    assert (await intake.put("/v1/hotline/category-map", json=CITY_MAPPING)).status_code == 401
    assert (await intake.get("/v1/hotline/category-map")).status_code == 401


async def test_concurrent_replacements_leave_one_whole_mapping(intake):
    other = {"rules": [{"kind": "name", "value": "噪声", "category": "env.noise"}]}
    responses = await asyncio.gather(*[intake.put("/v1/hotline/category-map", json=m, headers=ADMIN)
                                       for m in (CITY_MAPPING, other) * 3])
    assert {r.status_code for r in responses} == {200}
    final = (await intake.get("/v1/hotline/category-map", headers=CITY)).json()["rules"]
    assert len(final) in (1, 4)


async def test_while_the_secret_is_rotated_12345_may_sign_with_either(fresh_database):
    """INTAKE_HOTLINE_SECRET_PREVIOUS (SECURITY.md): the old secret is accepted beside the new one, no other."""
    dsn = await fresh_database("intake_rotation")
    await migrate(dsn, SERVICE_DIRS["intake"])
    settings = IntakeSettings(database_url=dsn, hotline_secret="hotline-new-secret-after-rotation",
                              hotline_secret_previous=HOTLINE_SECRET)
    async with serving(create_app(settings)) as client:
        assert (await post_order(client, order(order_no="GD-OLD"))).status_code == 202
        assert (await post_order(client, order(order_no="GD-NEW"), secret="hotline-new-secret-after-rotation")
                ).status_code == 202
        refused = await post_order(client, order(order_no="GD-ELSE"), secret="neither-of-them")
        assert refused.status_code == 401
    assert [r["order_no"] for r in await rows(dsn, "SELECT hotline_order_no AS order_no FROM incident ORDER BY 1")] \
        == ["GD-NEW", "GD-OLD"]
