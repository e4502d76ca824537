"""The local gateway (issue 15): its records and controls answer this machine only; it checks 12345 callbacks with
the callback secret and each hook with the subscriber's own secret, over method, path, time and body."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from services.notifications.adapters.local_sms_gateway import create_gateway_app
from shared.signing import sign


@pytest.fixture
def app(tmp_path):
    return create_gateway_app(tmp_path / "gw.jsonl", hotline_secret="callback-secret")


def client(app, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(host, 40000)), base_url="http://gw")


def signed(secret: str, path: str, body: bytes, prefix: str = "X-Hotline") -> dict[str, str]:
    ts = str(int(time.time()))
    return {f"{prefix}-Timestamp": ts, f"{prefix}-Signature": sign(secret, "POST", path, ts, body),
            "Content-Type": "application/json"}


@pytest.mark.parametrize("method, path", [("GET", "/sms"), ("GET", "/webhook"), ("GET", "/mail"),
                                          ("GET", "/hooks/ops"), ("POST", "/control")])
async def test_records_and_controls_answer_loopback_clients_only(app, method, path):
    async with client(app, "203.0.113.5") as outsider, client(app, "::1") as local:
        kwargs = {"json": {"fail_next": 5}} if method == "POST" else {}
        assert (await outsider.request(method, path, **kwargs)).status_code == 403
        assert (await local.request(method, path, **kwargs)).status_code == 200


async def test_it_still_takes_messages_from_the_network_it_listens_on(app):
    async with client(app, "172.18.0.4") as notifications:   # another container, in compose
        sent = await notifications.post("/sms", json={"phone": "13900000001", "text": "黄灯"})
        assert sent.status_code == 201


async def test_callbacks_and_hooks_are_checked_with_their_own_secrets_over_the_path(app):
    body = json.dumps({"order_no": "GD-1", "callback": "signed"}).encode()
    async with client(app, "127.0.0.1") as http:
        assert (await http.post("/webhook", content=body, headers=signed("callback-secret", "/webhook", body))
                ).status_code == 201
        wrong_path = signed("callback-secret", "/hooks/ops", body)
        assert (await http.post("/webhook", content=body, headers=wrong_path)).status_code == 401
        inbound = signed("hotline-dev-secret", "/webhook", body)  # 12345's secret towards us: not this one
        assert (await http.post("/webhook", content=body, headers=inbound)).status_code == 401

        hook = signed("ops-secret", "/hooks/ops", body, "X-Grid")
        assert (await http.post("/hooks/ops", content=body, headers=hook)).status_code == 401  # none registered
        await http.post("/control", json={"hook_secrets": {"ops": "ops-secret", "board": "board-secret"}})
        assert (await http.post("/hooks/ops", content=body, headers=hook)).status_code == 201
        as_board = signed("ops-secret", "/hooks/board", body, "X-Grid")
        assert (await http.post("/hooks/board", content=body, headers=as_board)).status_code == 401


async def test_an_sms_is_answered_as_recorded_kept_once_and_still_there_after_a_restart(tmp_path):
    path = tmp_path / "gw.jsonl"
    sms = {"phone": "13900000001", "text": "案件0f1e2d3c 已派至您处"}
    async with client(create_gateway_app(path), "127.0.0.1") as http:
        sent = await http.post("/sms", json=sms, headers={"Idempotency-Key": "delivery-1", "traceparent": "00-t"})
        assert sent.status_code == 201
        record = sent.json()
        assert {k: record[k] for k in ("phone", "text", "idempotency_key", "traceparent")} == {
            **sms, "idempotency_key": "delivery-1", "traceparent": "00-t"}
        repeated = await http.post("/sms", json=sms, headers={"Idempotency-Key": "delivery-1"})
        assert repeated.status_code == 200 and repeated.json() == {**record, "duplicate": True}
        assert (await http.get("/sms")).json() == [record]
        refused = await http.post("/sms", content=b"not json", headers={"Content-Type": "application/json"})
        assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "json_invalid"
        too_short = await http.post("/sms", json={"phone": "1", "text": ""})
        assert too_short.status_code == 422
        assert {tuple(e["loc"]) for e in too_short.json()["detail"]} == {("body", "phone"), ("body", "text")}
        not_said_json = await http.post("/sms", content=json.dumps(sms).encode(),
                                        headers={"Content-Type": "text/plain"})
        assert not_said_json.status_code == 422
        await http.post("/control", json={"fail_next": 1, "status": 503})
        assert (await http.post("/sms", json={**sms, "text": "失败"}, headers={"Idempotency-Key": "d-2"})
                ).status_code == 503
        assert (await http.get("/sms")).json() == [record]
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [record]

    async with client(create_gateway_app(path), "127.0.0.1") as http:  # the gateway restarted: its log is read back
        again = await http.post("/sms", json=sms, headers={"Idempotency-Key": "delivery-1"})
        assert again.status_code == 200 and again.json() == {**record, "duplicate": True}
        assert (await http.get("/sms")).json() == [record]
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
