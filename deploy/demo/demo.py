"""`make demo`: load a city, send live traffic, run the virtual clock fast, and show what happens.

Prints each incident's journey (assigned, lights, 督办 levels, SMS) as it unfolds, while the city works
its cases the way people do: most owners sign and finish in time, some late, some never; the centre
verifies (a few fail: 返工) and calls the citizen back (回访). Every minute the month's district 红黑榜
is printed from supervision's statistics. Stop with Ctrl-C; the stack keeps running (`make down`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from deploy.demo.synthetic_city import sample_points
from shared.auth import issue_token
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SECRET = ServiceSettings().auth_jwt_secret.get_secret_value()
# The role an owning unit acts with (intake's OWNER_ROLES); district-level owners act like streets.
ROLE_OF_KIND = {"grid": "gridworker", "community": "community", "street": "street", "district": "street",
                "department": "department"}


def local_url(port_variable: str, default: int) -> str:
    """A service of the local stack, on the port its role was started with (the same variables
    deploy/local/processes.txt names; the ports `make up` uses by default)."""
    return f"http://127.0.0.1:{int(os.environ.get(port_variable) or default)}"


INTAKE, ROUTING, SUPERVISION, NOTIFICATIONS = (
    local_url(f"{service}_HTTP_PORT", port)
    for service, port in (("INTAKE", 8001), ("ROUTING", 8002), ("SUPERVISION", 8003), ("NOTIFICATIONS", 8004)))
SMS = local_url("NOTIFICATIONS_SMS_GATEWAY_PORT", 8025)
# The console behind nginx (deploy/local/nginx.sh; `make demo` starts it and passes its URL).
CONSOLE = os.environ.get("CONSOLE_URL", "http://127.0.0.1:8080").rstrip("/")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Mostly grid-owned categories (their handler gets the SMS), with urgencies that light up within minutes.
CATEGORIES = [("dispute.neighbour", "urgent", "楼上漏水邻里纠纷"), ("city.ads", "urgent", "电线杆乱张贴小广告"),
              ("service.errand", "normal", "老人申请代办社保认证"),
              ("safety.campus", "emergency", "校门口车辆乱停堵塞"),
              ("safety.fire", "urgent", "楼道堆放杂物堵塞消防通道"), ("infra.manhole", "emergency", "人行道井盖缺失"),
              ("city.ads", "emergency", "主干道违规横幅遮挡信号灯")]


def load_city(grids: Path, people: Path) -> None:
    subprocess.run([sys.executable, "-m", "services.routing", "load-city", str(grids), str(people)],
                   cwd=ROOT, check=True)


def city_files(kind: str, grids: int, seed: int) -> tuple[Path, Path]:
    """The built-in small city, or a synthetic one at real scale (generated once into .run/city-<n>-<seed>)."""
    if kind == "small":
        return ROOT / "deploy/demo/small-city.geojson", ROOT / "deploy/demo/small-city-people.json"
    out = ROOT / ".run" / f"city-{grids}-{seed}"
    if not (out / "directory.json").exists():
        subprocess.run([sys.executable, "-m", "deploy.demo.synthetic_city", "--out", str(out),
                        "--grids", str(grids), "--seed", str(seed)], cwd=ROOT, check=True)
    return out / "grids.geojson", out / "directory.json"


def unit_contacts(people: Path) -> dict[str, dict]:
    """A contact per street and district of the city (head and 分管领导 with made-up numbers), so 督办
    reaches the owning street's head at a yellow card and the district's people at red and leader; and the
    city's leader (keyed by the first 4 digits of its codes), told of 领导督办 beside the district's."""
    units = json.loads(people.read_text(encoding="utf-8"))["units"]
    territorial = [u for u in units if u["kind"] in ("street", "district") and u.get("area")]
    contacts = {}
    for i, unit in enumerate(territorial):
        code = unit["area"][0]
        contacts[code] = {"name": unit["name"],
                          "leader": {"name": f"{unit['name']}负责人", "phone": f"137{i:08d}",
                                     "email": f"leader-{code}@gov.example"},
                          "supervisor": {"name": f"{unit['name']}分管领导", "phone": f"138{i:08d}",
                                         "email": f"supervisor-{code}@gov.example"}}
    for i, city in enumerate(sorted({code[:4] for code in contacts if len(code) == 6})):
        contacts[city] = {"name": "市综治中心", "leader": {"name": "分管副市长", "phone": f"136{i:08d}",
                                                          "email": f"leader-{city}@gov.example"}}
    return contacts


def traffic_points(city: dict, featured: dict | None, seed: int) -> list[tuple[float, float]]:
    """Where incidents happen: every other one in the district the console's sign-in shows (so the supervisor
    watching it sees the map move), the rest anywhere in the city."""
    anywhere = sample_points(city, 5000, seed)
    if featured is None:
        return anywhere
    inside = {"features": [f for f in city["features"]
                           if str(f["properties"].get("code") or "").startswith(featured["code"])]}
    return [point for pair in zip(sample_points(inside, 2500, seed), anywhere[:2500], strict=True) for point in pair]


async def load_contacts(http: httpx.AsyncClient, contacts: dict[str, dict]) -> None:
    for code, body in contacts.items():
        (await http.put(f"{NOTIFICATIONS}/v1/contacts/{code}", json=body)).raise_for_status()
    print(f"loaded {len(contacts)} unit contacts (streets, districts and the city) into notifications")


def console_sign_in(district: dict) -> str:
    """Where to watch: the console's URL, and a district supervisor's sign-in that works (the development picker,
    or a link carrying a dev token in its fragment, which the console takes and removes from the address bar)."""
    code, name = district["code"], district.get("name", "")
    token = issue_token(SECRET, "demo-supervisor", "supervisor", [code])
    return (f"console (map of lights, live alerts): {CONSOLE}/\n"
            f"  sign in: 开发环境登录 → 角色 督办员（指挥中心）, 辖区代码 {code} ({name}); or open directly:\n"
            f"  {CONSOLE}/#access_token={token}\n")


async def main(count: int, interval: float, points: list[tuple[float, float]], seed: int,
               contacts: dict[str, dict], district: dict | None = None) -> None:
    token = issue_token(SECRET, "demo", "admin", [""])
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(seed)
    seen_sms: set[str] = set()
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        await load_contacts(http, contacts)
        clock = (await http.get(SUPERVISION + "/v1/clock")).json()
        local = datetime.fromisoformat(clock["now"]).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        print(f"virtual clock {local} (Asia/Shanghai), {clock['mode']}, running at {clock['speed']}× real time")
        # A demo run again on the same stack: what earlier runs sent is not news.
        seen_sms.update(message["message_id"] for message in (await http.get(SMS + "/sms")).json())
        if seen_sms:
            print(f"({len(seen_sms)} SMS of earlier runs are in the gateway's record; only new ones are shown)")
        if district is not None:
            print(console_sign_in(district))
        print(f"open: {INTAKE}/docs  {SUPERVISION}/docs  live alerts: curl -N -H 'Authorization: Bearer "
              f"{token}' {NOTIFICATIONS}/v1/alerts/stream\n")
        ids: list[str] = []
        outage = False
        for i in itertools.count():
            if i == count:
                print("\nthe city works its cases; lights, SMS and the 红黑榜 follow (Ctrl-C to stop)…")
            try:
                if i < count or i % 3 == 0:  # a burst, then a steady trickle of live traffic
                    ids.append(await report_one(http, rng, points[i % len(points)]))
                if i % 3 == 2:
                    await work_cases(http, ids, rng)
                    await report_progress(http, ids, seen_sms)
                if i % 60 == 59:
                    await print_ranking(http)
                if outage:
                    print("the stack answers again; the demo goes on")
                outage = False
            except httpx.HTTPError as error:  # a role restarting, or `make down` in another terminal
                if not outage:
                    print(f"the stack does not answer ({error.__class__.__name__}: {error}); retrying each second"
                          " (`make status` shows what runs)")
                outage = True
            await asyncio.sleep(interval if i < count else 1.0)


async def report_one(http: httpx.AsyncClient, rng: random.Random, point: tuple[float, float]) -> str:
    category, urgency, title = rng.choice(CATEGORIES)
    response = await http.post(INTAKE + "/v1/incidents", json={
        "source": "gridworker", "category": category, "urgency": urgency, "title": title,
        "location": dict(zip(("lon", "lat"), point, strict=True))})
    response.raise_for_status()
    incident_id: str = response.json()["id"]
    print(f"reported {incident_id[:8]} {category} ({urgency}) {title}")
    return incident_id


async def work_cases(http: httpx.AsyncClient, ids: list[str], rng: random.Random) -> None:
    """One round of the city at work: each case may move one step, as its people would."""
    supervisor = {"Authorization": f"Bearer {issue_token(SECRET, 'demo-centre', 'supervisor', [''])}"}
    now = datetime.fromisoformat((await http.get(SUPERVISION + "/v1/clock")).json()["now"])
    for incident_id in list(ids):
        case = (await http.get(f"{INTAKE}/v1/incidents/{incident_id}")).json()
        owner = case.get("owner") or {}
        status = case.get("status")
        step: dict[str, object] | None = None
        if status in ("visited", "merged", "rejected"):
            ids.remove(incident_id)  # done: no longer watched
            continue
        if case.get("pending_suspension") and rng.random() < 0.5:
            step = {"action": "decide_suspension", "approved": rng.random() < 0.7, "note": "指挥中心审核"}
        elif status == "in_progress" and rng.random() < 0.02:  # 挂起 asked for; it ends by itself a day later
            step = {"action": "request_suspension", "reason": "待相关部门鉴定",
                    "until": (now + timedelta(days=1)).isoformat()}
        elif status == "assigned" and rng.random() < 0.02:
            step = {"action": "return", "reason": "非本单位职责"}  # 退单: routing gives it one level up
        elif status == "assigned" and rng.random() < 0.3:
            step = {"action": "sign"}
        elif status == "in_progress" and rng.random() < 0.15:
            step = {"action": "submit_result", "result": "已现场处置，拍照留档"}
        elif status == "pending_verification" and rng.random() < 0.4:
            step = {"action": "verify", "passed": rng.random() < 0.85, "note": "现场核查"}
        elif status == "closed" and rng.random() < 0.4:
            step = {"action": "visit", "contacted": "yes", "responded": rng.random() < 0.9,
                    "solved": "yes" if rng.random() < 0.8 else "partly",
                    "satisfied": "satisfied" if rng.random() < 0.75 else "unsatisfied"}
        if step is None:
            continue
        headers = supervisor
        if step["action"] in ("sign", "return", "submit_result", "request_suspension") and owner.get("unit_id"):
            role = ROLE_OF_KIND.get(owner.get("unit_kind", ""), "gridworker")
            token = issue_token(SECRET, owner.get("worker_id") or owner["unit_id"], role,
                                [case.get("grid_code") or ""], unit=owner["unit_id"])
            headers = {"Authorization": f"Bearer {token}"}
        await http.post(f"{INTAKE}/v1/incidents/{incident_id}/actions", json=step, headers=headers)


async def print_ranking(http: httpx.AsyncClient) -> None:
    """The month's 红黑榜 of the districts (streets need 10 cases each before they are ranked)."""
    virtual = datetime.fromisoformat((await http.get(SUPERVISION + "/v1/clock")).json()["now"])
    month = virtual.astimezone(SHANGHAI).strftime("%Y-%m")
    ranking = (await http.get(f"{SUPERVISION}/v1/rankings", params={"month": month, "level": "district"})).json()
    streets = (await http.get(f"{SUPERVISION}/v1/rankings", params={"month": month, "level": "street"})).json()
    ranked_streets = sum(1 for row in streets.get("units", []) if row.get("rank"))
    print(f"── {month} 区红黑榜, live until {str(ranking.get('freeze_at') or '')[:10] or '?'} "
          f"({ranked_streets} of {len(streets.get('units', []))} streets ranked so far) ──")
    for row in ranking.get("units", []):
        print("   " + ranking_line(row))


def ranking_line(row: dict) -> str:
    """One unit of the 红黑榜: its name (its code when supervision gives none), "—" for a unit with no measured
    rate (supervision answers `score: null` for it), and its 及时签收 and 按期办结 as numerator/denominator."""
    score = row.get("score")
    metrics = row.get("metrics") or {}

    def fraction(metric: str) -> str:
        rate = metrics.get(metric) or {}
        return f"{rate.get('numerator', 0)}/{rate.get('denominator', 0)}"

    return (f"#{row.get('rank') or '-'} {row.get('name') or row.get('key', '?')}: "
            f"score {'—' if score is None else score}, {row.get('cases', 0)} cases, "
            f"及时签收 {fraction('timely_sign_rate')}, 按期办结 {fraction('on_time_completion_rate')}, "
            f"督办 points {row.get('escalation_points', 0)}")


async def report_progress(http: httpx.AsyncClient, ids: list[str], seen_sms: set[str]) -> None:
    virtual = datetime.fromisoformat((await http.get(SUPERVISION + "/v1/clock")).json()["now"])
    now = virtual.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    lights = {"green": 0, "yellow": 0, "red": 0}
    for incident_id in ids:
        r = await http.get(f"{SUPERVISION}/v1/clocks/{incident_id}")
        if r.status_code == 200:
            lights[r.json()["light"]] += 1
    print(f"[{now} Shanghai] open cases' lights: 🟢 {lights['green']}  🟡 {lights['yellow']}  🔴 {lights['red']}")
    for message in (await http.get(SMS + "/sms")).json():
        if message["message_id"] not in seen_sms:
            seen_sms.add(message["message_id"])
            print(f"   SMS → {message['phone'][:3]}****{message['phone'][-4:]}: {message['text']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=12, help="incidents in the first burst (then one every 3 s)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    parser.add_argument("--city", choices=["synthetic", "small"], default="synthetic",
                        help="a generated city at real scale (default) or the built-in small one")
    parser.add_argument("--grids", type=int, default=15_000, help="grids of the synthetic city")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    try:
        grids_file, people_file = city_files(args.city, args.grids, args.seed)
        load_city(grids_file, people_file)
        city = json.loads(grids_file.read_text(encoding="utf-8"))
        districts = [f["properties"] for f in city["features"] if f["properties"].get("level") == "district"]
        featured = districts[0] if districts else None
        points = traffic_points(city, featured, args.seed)
        asyncio.run(main(args.count, args.interval, points, args.seed, unit_contacts(people_file), featured))
    except KeyboardInterrupt:
        print("\ndemo stopped; the stack is still up (`make down` stops it)")
