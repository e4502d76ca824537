"""`make demo`: load a city, send live traffic, run the virtual clock fast, and show what happens.

Prints each incident's journey (assigned, lights, 督办 levels, SMS) as it unfolds. Stop with Ctrl-C;
the stack keeps running (`make down` stops it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from services.routing.domain.synthetic_city import sample_points
from shared.auth import issue_token
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
INTAKE, ROUTING, SUPERVISION, NOTIFICATIONS = (f"http://127.0.0.1:{p}" for p in (8001, 8002, 8003, 8004))
SMS = "http://127.0.0.1:8025"
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
        subprocess.run([sys.executable, "-m", "services.routing", "synthetic-city", "--out", str(out),
                        "--grids", str(grids), "--seed", str(seed)], cwd=ROOT, check=True)
    return out / "grids.geojson", out / "directory.json"


def unit_contacts(people: Path) -> dict[str, dict]:
    """A contact per street and district of the city (head and 分管领导 with made-up numbers), so 督办
    reaches the owning street's head at a yellow card and the district's people at red and leader."""
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
    return contacts


async def load_contacts(http: httpx.AsyncClient, contacts: dict[str, dict]) -> None:
    for code, body in contacts.items():
        (await http.put(f"{NOTIFICATIONS}/v1/contacts/{code}", json=body)).raise_for_status()
    print(f"loaded {len(contacts)} unit contacts (streets and districts) into notifications")


async def main(count: int, interval: float, points: list[tuple[float, float]], seed: int,
               contacts: dict[str, dict]) -> None:
    token = issue_token(ServiceSettings().auth_jwt_secret.get_secret_value(), "demo", "admin", [""])
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(seed)
    seen_sms: set[str] = set()
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        await load_contacts(http, contacts)
        clock = (await http.get(SUPERVISION + "/v1/clock")).json()
        local = datetime.fromisoformat(clock["now"]).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        print(f"virtual clock {local} (Asia/Shanghai), {clock['mode']}, running at {clock['speed']}× real time")
        print(f"open: {INTAKE}/docs  {SUPERVISION}/docs  live alerts: curl -N -H 'Authorization: Bearer "
              f"{token}' {NOTIFICATIONS}/v1/alerts/stream\n")
        ids: list[str] = []
        for i in range(count):
            category, urgency, title = rng.choice(CATEGORIES)
            response = await http.post(INTAKE + "/v1/incidents", json={
                "source": "gridworker", "category": category, "urgency": urgency, "title": title,
                "location": dict(zip(("lon", "lat"), points[i % len(points)], strict=True))})
            response.raise_for_status()
            ids.append(response.json()["id"])
            print(f"reported {ids[-1][:8]} {category} ({urgency}) {title}")
            await asyncio.sleep(interval)
            if i % 3 == 2:
                await report_progress(http, ids, seen_sms)
        print("\ntraffic sent; watching lights and SMS (Ctrl-C to stop)…")
        while True:
            await report_progress(http, ids, seen_sms)
            await asyncio.sleep(3)


async def report_progress(http: httpx.AsyncClient, ids: list[str], seen_sms: set[str]) -> None:
    virtual = datetime.fromisoformat((await http.get(SUPERVISION + "/v1/clock")).json()["now"])
    now = virtual.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    lights = {"green": 0, "yellow": 0, "red": 0}
    for incident_id in ids:
        r = await http.get(f"{SUPERVISION}/v1/clocks/{incident_id}")
        if r.status_code == 200:
            lights[r.json()["light"]] += 1
    print(f"[{now} Shanghai] lights: 🟢 {lights['green']}  🟡 {lights['yellow']}  🔴 {lights['red']}")
    for message in (await http.get(SMS + "/sms")).json():
        if message["message_id"] not in seen_sms:
            seen_sms.add(message["message_id"])
            print(f"   SMS → {message['phone'][:3]}****{message['phone'][-4:]}: {message['text']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=12, help="incidents to report")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    parser.add_argument("--city", choices=["synthetic", "small"], default="synthetic",
                        help="a generated city at real scale (default) or the built-in small one")
    parser.add_argument("--grids", type=int, default=15_000, help="grids of the synthetic city")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    try:
        grids_file, people_file = city_files(args.city, args.grids, args.seed)
        load_city(grids_file, people_file)
        points = sample_points(json.loads(grids_file.read_text(encoding="utf-8")), args.count, args.seed)
        asyncio.run(main(args.count, args.interval, points, args.seed, unit_contacts(people_file)))
    except KeyboardInterrupt:
        print("\ndemo stopped; the stack is still up (`make down` stops it)")
