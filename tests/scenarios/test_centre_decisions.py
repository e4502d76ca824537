"""What the command centre decides, told from the outside with every role running: a unit asks for 挂起, the
centre hears of it and grants it until a date, the case resumes by itself then; 12345 refuses our 退单 of its
order, which comes back to the unit that had it; and an emergency is the centre's at once. Each service's view is
checked, and no effect doubles."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.story import ADMIN, CENTRE, GRID_1, IN_GRID_1, City, eventually, token

WORKER = {"unit": "grid-320508019044001", "worker": "gw-320508019044001", "phone": "13900000001"}
CENTRE_PHONE = "13900000990"
EMERGENCY_DESK = "13900000991"  # the district's duty desk for 特急 cases
ELSEWHERE_DESK = "13900000992"  # another district's
ORDER = "GD2026-SCENARIO-0101"


def worker() -> dict[str, str]:
    return token(WORKER["worker"], "gridworker", [GRID_1], unit=WORKER["unit"])


async def subscribe_the_centre(city: City) -> None:
    """The district's command centre takes its alerts by SMS (DESIGN §6: supervisors are told by subscription)."""
    response = await city.http.put(city.url("notifications", "/v1/subscriptions/district-centre"), headers=ADMIN,
                                   json={"name": "区指挥中心", "role": "supervisor", "area": [GRID_1[:6]],
                                         "event_types": ["centre.suspension_requested", "centre.unroutable"],
                                         "channels": ["sms"], "phone": CENTRE_PHONE})
    assert response.status_code in (200, 201), response.text


async def test_a_suspension_asked_for_granted_until_a_date_and_ended_by_itself(city: City):
    """DOMAIN §5 挂起: the centre approves it for a cause outside the unit; paused time is not counted, the due
    moves by it; `until` resumes the case (§4: by the system), on the timeline."""
    await subscribe_the_centre(city)
    incident = await city.report(urgency="normal", title="相邻通行纠纷")
    await city.case_when(incident, status="assigned", owner__worker_id=WORKER["worker"])
    assert (await city.act(incident, worker(), "sign")).status_code == 200
    handle = await city.clock_when(incident, phase="handle", running=True)
    due_before = datetime.fromisoformat(handle["due_at"])

    until = datetime.fromisoformat(await city.now()) + timedelta(days=2)
    asked = await city.act(incident, worker(), "request_suspension", reason="待法院判决", until=until.isoformat())
    assert asked.status_code == 200, asked.text
    await eventually(lambda: _sent(city, incident, "挂起申请待审批"))  # the centre hears of it

    granted = await city.act(incident, CENTRE, "decide_suspension", approved=True, note="同意挂起")
    assert granted.status_code == 200 and granted.json()["status"] == "suspended", granted.text
    await city.clock_when(incident, phase="handle", paused=True)
    await eventually(lambda: _sent(city, incident, "挂起申请已批准"))  # the unit that asked hears

    await city.advance(2 * 86400 + 60)
    case = await city.case_when(incident, status="in_progress")
    resumes = [t for t in case["timeline"] if t["action"] == "resume"]
    assert len(resumes) == 1 and resumes[0]["actor"] == "system"
    resumed = await city.clock_when(incident, phase="handle", paused=False, running=True)
    assert datetime.fromisoformat(resumed["due_at"]) > due_before  # the paused days are not counted

    [asked_for] = await _sent(city, incident, "挂起申请待审批") or []
    [answered] = await _sent(city, incident, "挂起申请已批准") or []
    assert (asked_for["address"], answered["address"]) == (CENTRE_PHONE, WORKER["phone"])
    assert [t["action"] for t in case["timeline"]].count("suspend") == 1


async def test_12345_refusing_our_return_gives_the_order_back_to_its_unit(city: City):
    """DOMAIN §7: our 退单 to 12345 is the centre ruling the order not ours (`returned` callback); 12345 rules on
    it (`return_decision`): refused, the order is ours again, back with the unit that had it, to sign afresh."""
    mapping = await city.http.put(city.url("intake", "/v1/hotline/category-map"), headers=ADMIN, json={"rules": [
        {"kind": "name", "value": "邻里纠纷", "category": "dispute.neighbour"}]})
    assert mapping.status_code == 200, mapping.text
    now = datetime.fromisoformat(await city.now())
    accepted = await city.hotline("/v1/hotline/orders", {
        "order_no": ORDER, "title": "楼道堆物", "content": "邻居楼道堆放杂物", "category": "邻里纠纷",
        "urgency": "一般", "received_at": now.isoformat(), "nature": "投诉",
        "lon": IN_GRID_1["lon"], "lat": IN_GRID_1["lat"], "citizen": {"name": "赵先生", "phone": "13812340001"}})
    assert accepted.status_code == 202, accepted.text
    incident = accepted.json()["id"]
    await city.case_when(incident, status="assigned", owner__worker_id=WORKER["worker"])
    returned = await city.act(incident, worker(), "return", reason="重复")
    assert returned.status_code == 200, returned.text
    await city.case_when(incident, status="returned")
    rejected = await city.act(incident, CENTRE, "reject", reason="属物业服务合同纠纷，退回12345")
    assert rejected.status_code == 200, rejected.text
    await eventually(lambda: _callbacks(city, "returned"))

    first_sent = int(time.time())
    refused = await city.hotline(f"/v1/hotline/orders/{ORDER}/events", {
        "event_id": "EV-RET-101", "kind": "return_decision", "approved": False, "note": "属地管理，请继续办理"},
        at=first_sent)
    assert refused.status_code == 200 and refused.json()["applied"], refused.text
    # 12345 sending the same event again is a new request with its own timestamp, so not a replayed signature.
    again = await city.hotline(f"/v1/hotline/orders/{ORDER}/events", {
        "event_id": "EV-RET-101", "kind": "return_decision", "approved": False, "note": "属地管理，请继续办理"},
        at=first_sent - 1)
    assert again.status_code == 200 and not again.json()["applied"]  # a resend changes nothing

    case = await city.case_when(incident, status="assigned", owner__worker_id=WORKER["worker"])
    assert [t["action"] for t in case["timeline"]].count("return_decision") == 1
    sign = await city.clock_when(incident, phase="sign", running=True)
    assert sign["unit_id"] == WORKER["unit"]
    told = await eventually(lambda: _sent(city, incident, "12345不同意退单"))  # alone, or in a bundled SMS
    assert len(told) == 1 and told[0]["address"] == WORKER["phone"]
    assert (await city.act(incident, worker(), "sign")).status_code == 200
    await city.clock_when(incident, phase="handle", running=True)
    callbacks = await eventually(lambda: _callbacks(city, "signed"))
    assert callbacks == ["accepted", "returned", "signed"]
    assert len(await _sent(city, incident, "12345不同意退单") or []) == 1


async def test_an_emergency_reaches_the_centre_at_once_beside_its_owner(city: City):
    """DOMAIN §6 特急: an emergency report is the command centre's at once (on the supervisors' live stream, and to
    every subscriber of `centre.emergency_reported` whose area covers it, night or not) while its owner is told of
    the new case as of any other. The alert is routing's IncidentAssigned as notifications applies it: each party
    once, and nobody outside the area."""
    for sub_id, area, phone in (("district-emergencies", GRID_1[:6], EMERGENCY_DESK),
                                ("other-district-emergencies", "320509", ELSEWHERE_DESK)):
        response = await city.http.put(city.url("notifications", f"/v1/subscriptions/{sub_id}"), headers=ADMIN,
                                       json={"name": "区应急值班", "role": "supervisor", "area": [area],
                                             "event_types": ["centre.emergency_reported"], "channels": ["sms"],
                                             "phone": phone})
        assert response.status_code in (200, 201), response.text
    # A category of the grid's own (the other stories' neighbour disputes here would make this one their duplicate).
    incident = await city.report(category="city.ads", urgency="emergency", title="配电箱旁堆放易燃广告物料")
    case = await city.case_when(incident, status="assigned", owner__worker_id=WORKER["worker"])
    assert [c["unit_id"] for c in case["co_owners"]] == ["district-320508"]  # an emergency's 协办 (DOMAIN §2)

    alert = await city.live_alert(CENTRE, "centre.emergency_reported", incident)
    assert alert["data"]["grid_code"] == GRID_1
    await eventually(lambda: _sent(city, incident, "特急案件："))  # the centre alert's own words, sent
    # Every delivery of the assignment was written in one transaction: all of them, whatever their status now.
    sms = [d for d in await city.deliveries(incident) if d["channel"] == "sms"]
    assert [d["address"] for d in sms if "特急案件：" in d["body"]] == [EMERGENCY_DESK]  # not ELSEWHERE_DESK
    assert [d["address"] for d in sms if "新案件" in d["body"]].count(WORKER["phone"]) == 1
    assert not [d for d in sms if d["address"] in (ELSEWHERE_DESK, CENTRE_PHONE)]
    on_the_phone = await eventually(lambda: _texts_about(city, EMERGENCY_DESK, incident))
    assert len(on_the_phone) == 1 and "特急案件" in on_the_phone[0]
    assert not await _texts_about(city, ELSEWHERE_DESK, incident)


async def _texts_about(city: City, phone: str, incident: str) -> list[str] | None:
    """What the SMS gateway got for `phone` that names the case (by its short reference)."""
    found = [sms["text"] for sms in await city.sms_to(phone) if incident[:8] in sms["text"]]
    return found or None


async def _sent(city: City, incident: str, words: str) -> list[dict[str, Any]] | None:
    """The case's SMS deliveries whose text says `words`, once sent (the delivery log keeps each one's own text,
    even when the gateway got it inside a bundle)."""
    found = [d for d in await city.deliveries(incident)
             if d["channel"] == "sms" and words in d["body"] and d["status"] == "sent"]
    return found or None


async def _callbacks(city: City, last: str) -> list[str] | None:
    callbacks = await city.callbacks(ORDER)
    return callbacks if callbacks and callbacks[-1] == last else None
