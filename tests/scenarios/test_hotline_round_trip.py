"""A 12345 work order from the hotline's side (DOMAIN §5, §7): order → signed → 催办 → extension asked → 12345
refuses → the deadline passes → red → 督办, with every callback once and in order."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.scenarios.story import ADMIN, GRID_1, IN_GRID_1, City, eventually, token

ORDER = "GD2026-SCENARIO-0001"
WORKER = {"unit": "grid-320508019044001", "worker": "gw-320508019044001", "phone": "13900000001"}


async def test_a_hotline_order_that_runs_late_despite_a_refused_extension(city: City):
    mapping = await city.http.put(city.url("intake", "/v1/hotline/category-map"), headers=ADMIN, json={"rules": [
        {"kind": "name", "value": "邻里纠纷", "category": "dispute.neighbour"}]})
    assert mapping.status_code == 200, mapping.text
    now = datetime.fromisoformat(await city.now())
    deadline = now + timedelta(hours=6)
    accepted = await city.hotline("/v1/hotline/orders", {
        "order_no": ORDER, "title": "楼上漏水", "content": "楼上漏水多次协商无果", "category": "邻里纠纷",
        "urgency": "紧急", "received_at": now.isoformat(), "deadline": deadline.isoformat(), "nature": "投诉",
        "lon": IN_GRID_1["lon"], "lat": IN_GRID_1["lat"], "citizen": {"name": "李女士", "phone": "13812340000"}})
    assert accepted.status_code == 202, accepted.text
    incident = accepted.json()["id"]
    await city.case_when(incident, status="assigned", owner__worker_id=WORKER["worker"])
    worker = token(WORKER["worker"], "gridworker", [GRID_1], unit=WORKER["unit"])
    assert (await city.act(incident, worker, "sign")).status_code == 200

    # The deadline binds the handle phase (DOMAIN §5: the earlier of it and the policy's 24 h).
    handle = await city.clock_when(incident, phase="handle", running=True)
    assert datetime.fromisoformat(handle["due_at"]) == deadline

    # 催办: on the timeline, and the handler is told at once.
    urged = await city.hotline(f"/v1/hotline/orders/{ORDER}/events",
                               {"event_id": "EV-URGE-1", "kind": "urge", "note": "市民再次来电"})
    assert urged.status_code == 200 and urged.json()["applied"]
    await eventually(lambda: _texts(city, WORKER["phone"], "催办"))

    # A local extension is a request to 12345; 12345 refuses it; nothing moves the deadline.
    asked = await city.act(incident, worker, "request_extension", amount=1, unit="working_days", reason="需协调物业")
    assert asked.status_code == 200, asked.text
    local = await city.act(incident, token("centre", "supervisor", [""]), "decide_extension", approved=True)
    assert local.status_code == 403
    refused = await city.hotline(f"/v1/hotline/orders/{ORDER}/events",
                                 {"event_id": "EV-EXT-1", "kind": "extension_decision", "approved": False})
    assert refused.status_code == 200, refused.text

    # The deadline passes: red, 黄牌督办; an hour later 红牌督办 (hour phases: due + 1 h).
    await city.advance(6.5 * 3600)
    red = await city.clock_when(incident, light="red", level="yellow_card")
    assert datetime.fromisoformat(red["due_at"]) == deadline
    await city.advance(3600)
    await city.clock_when(incident, level="red_card")
    reds = await eventually(lambda: _texts(city, WORKER["phone"], "红灯"))
    assert len(reds) == 1

    callbacks = await eventually(lambda: _callbacks_at_least(city, 3))
    assert callbacks == ["accepted", "signed", "extension_requested"]
    timeline = [t["action"] for t in (await city.case(incident))["timeline"]]
    assert timeline.count("urge") == 1 and timeline.count("decide_extension") == 1


async def _texts(city: City, phone: str, word: str) -> list[dict] | None:
    found = [m for m in await city.sms_to(phone) if word in m["text"]]
    return found or None


async def _callbacks_at_least(city: City, count: int) -> list[str] | None:
    callbacks = await city.callbacks(ORDER)
    return callbacks if len(callbacks) >= count else None
