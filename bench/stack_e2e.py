"""The whole stack end to end: a report over HTTP → routing → the owner's new-case SMS at the gateway.

Every role runs as its own process (the e2e tests' Stack: private databases, topics and ports) with the
15,000-grid synthetic city loaded and a desk contact for every community (an off-duty grid worker's
case goes to the community). Urgent reports (their notice is not bundled) are posted:

- burst: N at once from 32 concurrent clients; owners notified per second (first post → last SMS);
- paced: a steady rate for `seconds`; latency from the post to the gateway recording the SMS, p50/p99.

Baseline in the same run (DESIGN §9): raw aiokafka produce → consume on the same broker, the same
volume at the same rate, latency from send to receipt.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from bench.common import ROOT, Figure
from services.routing.domain.synthetic_city import sample_points
from shared.messaging.kafka import make_producer
from shared.messaging.topics import ensure_topics
from tests.e2e.stack import Stack, new_database_names
from tests.support import KAFKA_BOOTSTRAP, create_database, drop_database

BURST = 1_000
WARM_UP = 20
PACED_RATE = 100.0
CONCURRENCY = 32
CATEGORIES = [("dispute.neighbour", "楼上漏水邻里纠纷"), ("city.ads", "电线杆乱张贴小广告"),
              ("safety.fire", "楼道堆放杂物堵塞消防通道"), ("service.errand", "老人申请代办社保认证")]


def run(seconds: int = 15) -> list[Figure]:
    return asyncio.run(_run(seconds))


async def _run(seconds: int) -> list[Figure]:
    prefix = f"b{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    names = new_database_names()
    databases = {service: await create_database(name) for service, name in names.items()}
    workdir = Path(tempfile.mkdtemp(prefix="stack-e2e-"))
    stack = Stack(workdir, databases, prefix)
    try:
        stack.up()
        grids = _load_city(stack)
        await _community_desks(stack, grids)
        points = sample_points(grids, BURST + int(PACED_RATE * seconds) + WARM_UP, seed=11)
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {stack.admin_token}"},
                                     limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
            # Warm up: the first case makes routing load the 15,000-grid registry into memory (seconds).
            await _wait_notified(stack, await _post_all(http, stack, points[-WARM_UP:], rate=10.0))
            burst_started = time.time()
            sent = await _post_all(http, stack, points[:BURST], rate=None)
            notified = await _wait_notified(stack, sent)
            burst_rate = len(notified) / (max(notified.values()) - burst_started) if notified else 0.0
            paced = await _post_all(http, stack, points[BURST:BURST + int(PACED_RATE * seconds)], PACED_RATE)
            paced_notified = await _wait_notified(stack, paced)
        lags = sorted(paced_notified[i] - paced[i] for i in paced_notified)
    finally:
        stack.down()
        for name in names.values():
            await drop_database(name)
    base_rate, base_lags = await _raw_kafka(prefix, BURST, int(PACED_RATE * seconds))
    arrivals = sorted(t - burst_started for t in notified.values())
    spread = {f"burst_seconds_to_{p}pct": round(arrivals[min(len(arrivals) - 1, len(arrivals) * p // 100)], 2)
              for p in (50, 95, 100)} if arrivals else {}
    notes = {**spread, "burst": BURST, "paced_rate": PACED_RATE, "seconds": seconds, "notified_burst": len(notified),
             "notified_paced": len(paced_notified), "sent_paced": len(paced), "grids": 15_000}
    return [Figure("stack.e2e", "owners notified, burst", burst_rate, "incidents/s", base_rate,
                   "raw aiokafka produce→consume", "≥ 500 incidents/s sustained", notes),
            Figure("stack.e2e", f"report→SMS p50 at {PACED_RATE:.0f}/s", _ms(lags, 50), "ms", _ms(base_lags, 50),
                   "raw aiokafka produce→consume", "", notes),
            Figure("stack.e2e", f"report→SMS p99 at {PACED_RATE:.0f}/s", _ms(lags, 99), "ms", _ms(base_lags, 99),
                   "raw aiokafka produce→consume", "p99 ≤ 1 s", notes)]


def _ms(values: list[float], p: int) -> float:
    return 1000 * values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def _load_city(stack: Stack) -> dict:
    city = ROOT / ".run" / "city-15000-7"
    if not (city / "directory.json").exists():
        stack.run("routing", "synthetic-city", "--out", str(city), "--grids", "15000", "--seed", "7")
    stack.run("routing", "load-city", str(city / "grids.geojson"), str(city / "directory.json"))
    grids: dict = json.loads((city / "grids.geojson").read_text(encoding="utf-8"))
    return grids


async def _community_desks(stack: Stack, grids: dict) -> None:
    """A liaison per community, who takes the notice when the grid's worker is off duty."""
    communities = sorted({f["properties"]["code"][:12] for f in grids["features"]
                          if len(f["properties"]["code"]) >= 12})
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {stack.admin_token}"}) as http:
        for n, code in enumerate(communities):
            response = await http.put(f"{stack.url('notifications')}/v1/contacts/{code}", json={
                "name": f"社区{code}", "liaison": {"name": "社区联络员", "phone": f"139{n:08d}"}})
            response.raise_for_status()


async def _post_all(http: httpx.AsyncClient, stack: Stack, points: list, rate: float | None) -> dict[str, float]:
    """Post a report per point (all at once, or at `rate` per second); returns case ref → post time."""
    rng = random.Random(len(points))
    sent: dict[str, float] = {}
    gate = asyncio.Semaphore(CONCURRENCY)
    started = time.time()

    async def one(n: int, point: tuple[float, float]) -> None:
        if rate:
            await asyncio.sleep(max(0.0, started + n / rate - time.time()))
        category, title = rng.choice(CATEGORIES)
        async with gate:
            at = time.time()
            response = await http.post(stack.url("intake") + "/v1/incidents", json={
                "source": "gridworker", "category": category, "urgency": "urgent", "title": title,
                "location": {"lon": point[0], "lat": point[1]}})
        if response.status_code == 202:
            sent[response.json()["id"][:8]] = at

    await asyncio.gather(*(one(n, p) for n, p in enumerate(points)))
    return sent


async def _wait_notified(stack: Stack, sent: dict[str, float], patience: float = 60.0) -> dict[str, float]:
    """Follow the gateway's record (its JSON-lines log: cheaper than asking it over HTTP while it works)
    until every posted case has its new-case SMS, or nothing new came for `patience` seconds."""
    notified: dict[str, float] = {}
    log = stack.workdir / "sms.jsonl"
    last_progress = time.time()
    while len(notified) < len(sent) and time.time() - last_progress < patience:
        await asyncio.sleep(0.5)
        before = len(notified)
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        for line in lines:
            message = json.loads(line)
            text = message.get("text", "")
            if "新案件" in text:
                ref = text.split("新案件", 1)[1][:8]
                if ref in sent and ref not in notified:
                    notified[ref] = datetime.fromisoformat(message["received_at"]).timestamp()
        if len(notified) > before:
            last_progress = time.time()
    return notified


async def _raw_kafka(prefix: str, burst: int, paced: int) -> tuple[float, list[float]]:
    """The same volumes through a bare producer and consumer on a private topic."""
    topic = f"{prefix}intake.incidents.v1"
    producer = make_producer(KAFKA_BOOTSTRAP)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA_BOOTSTRAP, auto_offset_reset="latest",
                                group_id=f"raw-{uuid.uuid4().hex[:6]}")
    await producer.start()
    await consumer.start()
    try:
        for _ in range(300):  # the group's first assignment
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        received: dict[int, float] = {}

        async def drain(count: int) -> None:
            while len(received) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        received[int(record.key)] = time.time()

        started = time.time()
        reader = asyncio.create_task(drain(burst))
        await asyncio.gather(*[await producer.send(topic, b"x" * 700, key=str(n).encode()) for n in range(burst)])
        await reader
        rate = burst / (max(received.values()) - started)
        sent: dict[int, float] = {}
        reader = asyncio.create_task(drain(burst + paced))
        begin = time.time()
        for n in range(burst, burst + paced):
            await asyncio.sleep(max(0.0, begin + (n - burst) / PACED_RATE - time.time()))
            sent[n] = time.time()
            await producer.send(topic, b"x" * 700, key=str(n).encode())
        await reader
        return rate, sorted(received[n] - sent[n] for n in sent)
    finally:
        await consumer.stop()
        await producer.stop()
