"""How a case passes from hand to hand, told from the outside with every role running (DOMAIN §4): a 退单 as
非本辖区 goes sideways to the territory where the case is; a 上报 goes one level up and is no 退单; 12345 orders
about one thing end as one case, and every order hears of its result and its closing, once. Each service's own
view is checked, and no effect doubles."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from tests.scenarios.story import ADMIN, CENTRE, IN_GRID_1, City, eventually, token

ZHANG = {"unit": "grid-320508019044001", "worker": "gw-320508019044001", "phone": "13900000001",
         "grid": "320508019044001"}
WANG = {"unit": "grid-320508019044002", "worker": "gw-320508019044002", "phone": "13900000002",
        "grid": "320508019044002"}
LI = {"unit": "grid-320508019044003", "worker": "gw-320508019044003", "phone": "13900000003",
      "grid": "320508019044003"}
CHEN = {"unit": "grid-320508019045001", "worker": "gw-320508019045001", "phone": "13900000005",
        "grid": "320508019045001"}
MEIHUA = {"unit": "community-320508019044", "area": "320508019044"}  # 梅花社区居委会
STREET = "street-320508019"  # 平江街道综治中心
IN_TAOWU_1 = {"lon": 120.637, "lat": 31.31}  # 桃坞社区第1网格
IN_GRID_3 = {"lon": 120.608, "lat": 31.33}  # 梅花社区第3网格
NEXT_DOOR = {"lon": 120.6082, "lat": 31.3301}  # ~22 m from IN_GRID_3: within the duplicate radius (50 m)
DOWN_THE_ROAD = {"lon": 120.611, "lat": 31.332}  # ~360 m from IN_GRID_3, still in 梅花社区第3网格
SHANGHAI = ZoneInfo("Asia/Shanghai")


def worker(who: dict[str, str]) -> dict[str, str]:
    return token(who["worker"], "gridworker", [who["grid"]], unit=who["unit"])


def actions(case: dict[str, Any]) -> Counter[str]:
    return Counter(t["action"] for t in case["timeline"])


def phases(clock: dict[str, Any]) -> list[tuple[str, bool]]:
    """The clock history as (phase, still running)."""
    return [(h["phase"], h["stopped_at"] is None) for h in clock["history"]]


async def test_a_case_returned_as_not_our_area_goes_sideways_to_the_grid_where_it_is(city: City):
    """DOMAIN §4 退单 (reasons 非本单位职责, 非本辖区, 信息不全, 重复) and §2 rule 3 属地管理: the territory handles
    what happens in it. A unit that returns a case as 非本辖区 says the place is not its territory, so routing
    places the case again by where it was reported and gives it to that territory's owner: sideways, to the grid
    of another community, not one level up (which for 梅花社区第2网格 would be 梅花社区居委会). The centre had
    dispatched the case by hand to the wrong grid; the 退单 counts (return_count 1), the reassignment gives a
    fresh sign clock (§5)."""
    incident = await city.report(urgency="normal", location=IN_TAOWU_1, title="院内通道被邻居堆物堵塞")
    await city.case_when(incident, status="assigned", owner__worker_id=CHEN["worker"])
    slip = await city.dispatch(incident, WANG["unit"], reason="按来电描述派至梅花社区第2网格", worker=WANG["worker"])
    assert slip.status_code == 200, slip.text
    await city.case_when(incident, status="assigned", owner__unit_id=WANG["unit"])

    returned = await city.act(incident, worker(WANG), "return", reason="非本辖区：事发地在桃坞社区第1网格")
    assert returned.status_code == 200 and returned.json()["status"] == "returned", returned.text

    # intake: back with the grid where it happened; one 退单, read as 非本辖区 from its words
    case = await city.case_when(incident, status="assigned", owner__unit_id=CHEN["unit"])
    assert case["owner"]["worker_id"] == CHEN["worker"] and case["return_count"] == 1
    [ret] = [t for t in case["timeline"] if t["action"] == "return"]
    assert ret["detail"]["kind"] == "not_our_area" and ret["detail"]["unit"] == WANG["unit"]
    assert actions(case)["assigned"] == 1 and actions(case)["reassigned"] == 2
    assert [t["detail"]["previous_unit"] for t in case["timeline"] if t["action"] == "reassigned"] == [
        CHEN["unit"], WANG["unit"]]
    # routing: placed again by its location, same level, another community; nothing went up to 梅花社区
    history = await city.assignments(incident)
    assert [h["kind"] for h in history["history"]] == ["assigned", "dispatched", "reassigned"]
    assert history["current"]["unit_id"] == CHEN["unit"] and history["current"]["worker_id"] == CHEN["worker"]
    assert "placed again" in history["current"]["reason"]
    assert MEIHUA["unit"] not in {h["unit_id"] for h in history["history"]}
    # supervision: each owner's sign clock stopped; one fresh sign clock runs for the grid that has it now
    clock = await city.clock_when(incident, phase="sign", running=True, unit_id=CHEN["unit"])
    assert phases(clock) == [("sign", False), ("sign", False), ("sign", True)]
    # notifications: 陈静 heard of the case twice (派遣, then back), that it went away once; 王芳 of it once
    told = await eventually(lambda: _sms_settled(city, incident, 5))
    assert Counter((d["address"], _what(d)) for d in told) == {
        (CHEN["phone"], "新案件"): 2, (CHEN["phone"], "已改派"): 1, (WANG["phone"], "新案件"): 1,
        (WANG["phone"], "已改派"): 1}

    # no longer 王芳's, nor in her area: refused (DESIGN §5: wrong area → 403)
    assert (await city.act(incident, worker(WANG), "sign")).status_code == 403
    assert (await city.act(incident, worker(CHEN), "sign")).status_code == 200
    handle = await city.clock_when(incident, phase="handle", running=True)
    assert handle["unit_id"] == CHEN["unit"]
    assert len((await city.assignments(incident))["history"]) == 3


async def test_a_case_referred_up_goes_one_level_up_and_is_no_return(city: City):
    """DOMAIN §4: 上报 (`refer_up {reason}`) passes the case to the level above (grid → community); it is not a
    退单: the return count stays 0 (so two returns are still allowed before the centre's 终审) and it is not in
    the unit's 回退率 (§6). Supervision: the owner's running clock stops, the level above gets a fresh sign clock
    (§5: a reassignment gives a fresh sign clock). A later 退单 by the community is still allowed and counts."""
    incident = await city.report(urgency="normal", location=IN_GRID_1, title="多户居民噪声纠纷，需社区统一调解")
    await city.case_when(incident, status="assigned", owner__worker_id=ZHANG["worker"])
    assert (await city.act(incident, worker(ZHANG), "sign")).status_code == 200
    await city.clock_when(incident, phase="handle", running=True, unit_id=ZHANG["unit"])

    empty = await city.act(incident, worker(ZHANG), "refer_up", reason=" ")
    assert empty.status_code == 422, empty.text  # 上报 needs a reason
    referred = await city.act(incident, worker(ZHANG), "refer_up", reason="涉及三个楼栋居民，需社区统一调解")
    assert referred.status_code == 200, referred.text

    # intake: the community owns it now; no 退单 anywhere
    case = await city.case_when(incident, status="assigned", owner__unit_id=MEIHUA["unit"])
    assert case["return_count"] == 0 and case["owner"]["worker_id"] is None
    assert actions(case)["refer_up"] == 1 and actions(case)["reassigned"] == 1 and actions(case)["return"] == 0
    [up] = [t for t in case["timeline"] if t["action"] == "refer_up"]
    assert up["detail"]["unit"] == ZHANG["unit"]
    assert "return" in case["allowed_actions"]
    # routing: one level up from the grid
    history = await city.assignments(incident)
    assert [h["kind"] for h in history["history"]] == ["assigned", "reassigned"]
    assert history["current"]["unit_id"] == MEIHUA["unit"] and "上报" in history["current"]["reason"]
    # supervision: the grid's handle clock stopped; a fresh sign clock for the community
    clock = await city.clock_when(incident, phase="sign", running=True, unit_id=MEIHUA["unit"])
    assert phases(clock) == [("sign", False), ("handle", False), ("sign", True)]
    # notifications: 张伟 heard of the case once, and once that it left him (the community has no SMS contact)
    told = await eventually(lambda: _sms_settled(city, incident, 2))
    assert Counter((d["address"], _what(d)) for d in told) == {(ZHANG["phone"], "新案件"): 1,
                                                               (ZHANG["phone"], "已改派"): 1}
    # supervision's 回退率: the grid received the case and returned nothing
    assert (await _return_rate(city, ZHANG["unit"]))["numerator"] == 0

    # A 退单 is still the community's to make, and it is the case's first.
    community = token("sq-meihua", "community", [MEIHUA["area"]], unit=MEIHUA["unit"])
    returned = await city.act(incident, community, "return", reason="需街道协调物业公司与产权单位")
    assert returned.status_code == 200, returned.text
    case = await city.case_when(incident, status="assigned", owner__unit_id=STREET)
    assert case["return_count"] == 1 and actions(case)["return"] == 1 and actions(case)["refer_up"] == 1
    history = await city.assignments(incident)
    assert [h["kind"] for h in history["history"]] == ["assigned", "reassigned", "reassigned"]
    clock = await city.clock_when(incident, phase="sign", running=True, unit_id=STREET)
    assert [running for _, running in phases(clock)].count(True) == 1
    rates = await eventually(lambda: _rate_when(city, MEIHUA["unit"], 1))
    assert rates["numerator"] == 1
    assert (await _return_rate(city, ZHANG["unit"]))["numerator"] == 0


async def test_orders_about_one_thing_each_hear_of_its_result_and_closing_once(city: City):
    """DOMAIN §4 合并 and §7: a 12345 order about the same thing at the same place (same category, within the
    duplicate radius) is linked to the first and not routed; an order the centre finds is the same thing is merged
    into it (`merge {into}`). Linked duplicates follow the master and are merged when it closes; each linked
    12345 order gets its `result` and `closed` callbacks (DESIGN §6), each once; only the master is signed."""
    mapping = await city.http.put(city.url("intake", "/v1/hotline/category-map"), headers=ADMIN, json={"rules": [
        {"kind": "name", "value": "乱张贴小广告", "category": "city.ads"}]})
    assert mapping.status_code == 200, mapping.text
    orders = {"master": "GD2026-SCENARIO-0201", "duplicate": "GD2026-SCENARIO-0202", "merged": "GD2026-SCENARIO-0203"}
    places = {"master": IN_GRID_3, "duplicate": NEXT_DOOR, "merged": DOWN_THE_ROAD}
    cases = {}
    for name in ("master", "duplicate", "merged"):
        accepted = await city.hotline("/v1/hotline/orders", _order(orders[name], places[name], await city.now()))
        assert accepted.status_code == 202, accepted.text
        cases[name] = str(accepted.json()["id"])
        if name == "master":
            await city.case_when(cases[name], status="assigned", owner__worker_id=LI["worker"])
    master, duplicate, merged = cases["master"], cases["duplicate"], cases["merged"]

    # The order next door is linked, not routed: no owner, no clock.
    linked = await city.case(duplicate)
    assert linked["duplicate_of"] == master and linked["status"] == "received" and linked["owner"] is None
    assert duplicate in (await city.case(master))["duplicates"]
    held = await eventually(lambda: _routed(city, duplicate))
    assert [h["kind"] for h in held["history"]] == ["unroutable"] and held["current"] is None
    assert "duplicate of" in held["history"][0]["reason"]
    # The order down the road is its own case, until the centre merges it.
    await city.case_when(merged, status="assigned", owner__worker_id=LI["worker"])
    await city.clock_when(merged, phase="sign", running=True)
    folded = await city.act(merged, CENTRE, "merge", into=master)
    assert folded.status_code == 200 and folded.json()["status"] == "merged", folded.text
    await city.clock_when(merged, phase="sign", running=False)
    refused = await eventually(lambda: _refused(city, merged))  # routing: nobody's to dispatch any more
    assert refused.status_code == 409

    # The master is worked, its result checked by the centre, and it closes.
    assert (await city.act(master, worker(LI), "sign")).status_code == 200
    submitted = await city.act(master, worker(LI), "submit_result", result="已清除楼道及外墙小广告，并告知物业加强巡查")
    assert submitted.status_code == 200, submitted.text
    await city.clock_when(master, phase="verify", running=True)
    verified = await city.act(master, CENTRE, "verify", passed=True, note="现场核查已清除")
    assert verified.status_code == 200 and verified.json()["status"] == "closed", verified.text

    # intake: the duplicate followed its master into it; each case's own steps once
    followed = await city.case_when(duplicate, status="merged", merged_into=master)
    assert actions(followed)["merge"] == 1
    assert [t["actor"] for t in followed["timeline"] if t["action"] == "merge"] == ["intake"]  # by the platform
    assert actions(await city.case(merged))["merge"] == 1
    done = await city.case(master)
    assert done["status"] == "closed"
    assert {a: actions(done)[a] for a in ("sign", "submit_result", "verify", "close")} == {
        "sign": 1, "submit_result": 1, "verify": 1, "close": 1}
    # supervision: the master's three phases each ran once and all stopped; the duplicate never had a clock
    clock = await city.clock_when(master, running=False, phase="verify")
    assert phases(clock) == [("sign", False), ("handle", False), ("verify", False)]
    assert await city.clock(duplicate) is None
    # routing: the master was routed once and is closed for dispatch
    assert [h["kind"] for h in (await city.assignments(master))["history"]] == ["assigned"]
    assert (await eventually(lambda: _refused(city, master))).status_code == 409

    # notifications → 12345: every order its result and its closing, once, in order; only the master was signed
    expected = {"master": ["accepted", "signed", "result", "closed"], "duplicate": ["accepted", "result", "closed"],
                "merged": ["accepted", "result", "closed"]}
    for name, order_no in orders.items():
        got = await eventually(partial(_callbacks_until_closed, city, order_no))
        assert got == expected[name], (name, got)
    for name in ("duplicate", "merged"):
        bodies = await _callback_bodies(city, orders[name])
        assert [b["detail"]["master_incident_id"] for b in bodies if b["callback"] in ("result", "closed")] == [
            master, master]
        assert all(b["incident_id"] == cases[name] for b in bodies)
    for name, incident in cases.items():  # the platform's own log: one delivery per callback and order
        logged = [d for d in await city.get("notifications", "/v1/deliveries", incident_id=incident,
                                            channel="webhook") if d["status"] == "sent"]
        assert Counter(_callback_of(d) for d in logged) == Counter(expected[name]), (name, logged)


# ---- helpers of these stories


def _order(order_no: str, place: dict[str, float], now: str) -> dict[str, Any]:
    return {"order_no": order_no, "title": "楼道及外墙乱贴小广告", "content": "单元楼道和外墙贴满开锁、办证小广告",
            "category": "乱张贴小广告", "urgency": "一般", "received_at": datetime.fromisoformat(now).isoformat(),
            "nature": "投诉", "lon": place["lon"], "lat": place["lat"],
            "citizen": {"name": "孙女士", "phone": "13812340002"}}


async def _sms_settled(city: City, incident: str, count: int) -> list[dict[str, Any]] | None:
    """The case's SMS once at least `count` were queued and none is still waiting (bundled SMS wait a window)."""
    logged = await city.get("notifications", "/v1/deliveries", incident_id=incident, channel="sms")
    return logged if len(logged) >= count and all(d["status"] == "sent" for d in logged) else None


def _what(delivery: dict[str, Any]) -> str:
    return next((w for w in ("新案件", "已改派") if w in delivery["body"]), delivery["body"])


async def _routed(city: City, incident: str) -> dict[str, Any] | None:
    response = await city.http.get(city.url("routing", f"/v1/assignments/{incident}"), headers=ADMIN)
    return response.json() if response.status_code == 200 else None


async def _refused(city: City, incident: str) -> Any:
    response = await city.dispatch(incident, LI["unit"], reason="试图改派已结束的案件")
    return response if response.status_code != 200 else None


async def _return_rate(city: City, unit: str) -> dict[str, Any]:
    month = datetime.fromisoformat(await city.now()).astimezone(SHANGHAI).strftime("%Y-%m")
    stats = await city.get("supervision", "/v1/stats", month=month, group_by="unit")
    [row] = [r for r in stats["rows"] if r["key"] == unit]
    return row["metrics"]["return_rate"]  # type: ignore[no-any-return]


async def _rate_when(city: City, unit: str, numerator: int) -> dict[str, Any] | None:
    try:
        rate = await _return_rate(city, unit)
    except ValueError:
        return None
    return rate if rate["numerator"] >= numerator else None


async def _callback_bodies(city: City, order_no: str) -> list[dict[str, Any]]:
    received = (await city.http.get(city.stack.url("sms") + "/webhook", params={"order_no": order_no})).json()
    return [w["body"] for w in received]


async def _callbacks_until_closed(city: City, order_no: str) -> list[str] | None:
    callbacks = await city.callbacks(order_no)
    return callbacks if callbacks and callbacks[-1] == "closed" else None


def _callback_of(delivery: dict[str, Any]) -> str:
    return str(json.loads(delivery["body"])["callback"])
