"""Notifications under load: light-change alerts published to Kafka (a private topic prefix) become SMS
recorded by the local gateway. Throughput, and latency from each light change's event time to the
gateway receiving its SMS; beside raw HTTP posts to the same gateway at the same concurrency (as many
clients as deliverer processes, one request at a time each), measured in the same run.

Red lights are sent: they are urgent, so they go at once; non-urgent SMS wait one bundling window
(NOTIFICATIONS_SMS_BUNDLE_SECONDS) by design, which would measure the window, not the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import ROOT, Figure, Server, create_database, drop_database, free_port
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.supervision import LightChanged
from shared.messaging.kafka import make_producer
from shared.messaging.topics import ALERTS, ALL_TOPICS, ensure_topics
from tests.support import delete_topics

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
DELIVERERS = 2
BURST = 2_000
WARM_UP = 50
GRID = "320508019044001"


def run(seconds: int = 15) -> list[Figure]:
    return asyncio.run(_run(seconds))


PIPELINE_PREFIX, BASELINE_PREFIX = "139", "138"


def _phone(i: int) -> str:
    return f"{PIPELINE_PREFIX}{i:08d}"


async def _run(seconds: int) -> list[Figure]:
    name, dsn = await create_database("notifications")
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(KAFKA, prefix)
    workdir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    try:
        await migrate(dsn, ROOT / "services" / "notifications")
        incidents = [uuid.uuid4() for _ in range(WARM_UP + BURST + 1_000 * seconds)]
        await _seed_owners(dsn, incidents)
        port, log = free_port(), workdir / "gateway.jsonl"
        env = {"NOTIFICATIONS_DATABASE_URL": dsn, "KAFKA_TOPIC_PREFIX": prefix, "LOG_LEVEL": "WARNING",
               "NOTIFICATIONS_SMS_URL": f"http://127.0.0.1:{port}/sms", "NOTIFICATIONS_SMS_GATEWAY_PORT": str(port),
               "NOTIFICATIONS_SMTP_SINK_PORT": str(free_port()), "NOTIFICATIONS_SMS_GATEWAY_LOG": str(log),
               "NOTIFICATIONS_DELIVER_BATCH": "50"}
        gateway_args = [sys.executable, "-m", "services.notifications", "sms-gateway"]
        with Server(gateway_args, env, port) as gateway:
            baseline = await _raw_posts(gateway.url, BURST, DELIVERERS)
            roles = [_start("consume", env, workdir)] + [_start("deliver", env, workdir) for _ in range(DELIVERERS)]
            try:
                async with _producer() as producer:
                    cursor = 0
                    warm = incidents[cursor:cursor + WARM_UP]
                    cursor += WARM_UP
                    await _publish(producer, prefix, warm)
                    await _wait_for(log, WARM_UP, timeout=120)
                    burst = incidents[cursor:cursor + BURST]
                    cursor += BURST
                    burst_times = await _publish(producer, prefix, burst)
                    await _wait_for(log, WARM_UP + BURST, timeout=300)
                    received = _received(log)
                    burst_done = max(received[_phone(WARM_UP + n)] for n in range(BURST))
                    burst_rate = BURST / (burst_done - min(burst_times.values())).total_seconds()
                    rate = max(10.0, 0.5 * burst_rate)  # paced well below saturation: latency, not queueing
                    paced = incidents[cursor:cursor + int(rate * seconds)]
                    paced_times = await _publish(producer, prefix, paced, rate)
                    await _wait_for(log, WARM_UP + BURST + len(paced), timeout=300)
            finally:
                for process in roles:
                    process.terminate()
                for process in roles:
                    process.wait(timeout=15)
        received = _received(log)
        index = {incident: i for i, incident in enumerate(incidents)}
        latencies = sorted((received[_phone(index[i])] - at).total_seconds() * 1000 for i, at in paced_times.items())
        stages = await _stages(dsn, paced_times)
        duplicates = _lines(log, PIPELINE_PREFIX) - len(received)
    finally:
        await delete_topics(KAFKA, [prefix + t for t in ALL_TOPICS])
        await drop_database(name)
    notes = {"deliverers": DELIVERERS, "burst": BURST, "paced_rate_per_s": round(rate, 1),
             "paced_seconds": seconds, "paced_alerts": len(paced), "duplicate_sms": duplicates,
             "light": "red (urgent: no bundling hold)", **stages}
    return [
        Figure("notifications.deliver", "throughput (burst)", burst_rate, "SMS/s", baseline["rate"],
               f"raw POST /sms × {DELIVERERS}", "", notes),
        Figure("notifications.deliver", "p50 event→gateway (paced)", _pct(latencies, 50), "ms", baseline["p50"],
               "raw POST /sms"),
        Figure("notifications.deliver", "p99 event→gateway (paced)", _pct(latencies, 99), "ms", baseline["p99"],
               "raw POST /sms", "≤ 1 s (end to end, DESIGN §9)"),
    ]


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def _stages(dsn: str, event_times: dict[uuid.UUID, datetime]) -> dict[str, float]:
    """Where the paced latency goes: event → delivery row committed (consumer), row → sent (deliverer)."""
    pool = await create_pool(dsn, 1, 2)
    try:
        rows = await pool.fetch("SELECT incident_id, created_at, sent_at FROM delivery WHERE incident_id = ANY($1)",
                                list(event_times))
    finally:
        await pool.close()
    consumed = sorted((r["created_at"] - event_times[r["incident_id"]]).total_seconds() * 1000 for r in rows)
    sent = sorted((r["sent_at"] - r["created_at"]).total_seconds() * 1000 for r in rows if r["sent_at"])
    return {"consumer_p50_ms": round(_pct(consumed, 50), 1), "consumer_p99_ms": round(_pct(consumed, 99), 1),
            "deliverer_p50_ms": round(_pct(sent, 50), 1), "deliverer_p99_ms": round(_pct(sent, 99), 1)}


async def _seed_owners(dsn: str, incidents: list[uuid.UUID]) -> None:
    pool = await create_pool(dsn, 1, 2)
    try:
        await pool.copy_records_to_table(
            "case_owner", columns=["incident_id", "unit_id", "unit_name", "unit_kind", "worker_id", "worker_name",
                                   "worker_phone", "grid_code", "category", "urgency"],
            records=[(incident, "grid-1", "网格1", "grid", f"w{i}", "网格员", _phone(i), GRID, "city.ads", "urgent")
                     for i, incident in enumerate(incidents)])
    finally:
        await pool.close()


class _producer:
    async def __aenter__(self):
        self.producer = make_producer(KAFKA)
        await self.producer.start()
        return self.producer

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()


async def _publish(producer, prefix: str, incidents: list[uuid.UUID], rate: float | None = None
                   ) -> dict[uuid.UUID, datetime]:
    """Publish a red light per incident (as fast as possible, or `rate` per second); their event times."""
    times: dict[uuid.UUID, datetime] = {}
    started = time.perf_counter()
    for n, incident in enumerate(incidents):
        if rate:
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        at = datetime.now(UTC)
        event = LightChanged(incident_id=incident, at=at, phase="sign", due_at=at - timedelta(minutes=1),
                             due_version=1, category="city.ads", urgency="urgent", grid_code=GRID,
                             unit_id="grid-1", light="red", previous_light="yellow")
        envelope = Envelope.wrap(event, source="/supervision", time=at)
        await producer.send(prefix + ALERTS, envelope.to_bytes(), key=envelope.subject.encode())
        times[incident] = at
    await producer.flush()
    return times


def _records(log: Path, phone_prefix: str) -> list[dict]:
    if not log.exists():
        return []
    records = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # the line the gateway is writing right now
    return [r for r in records if r["phone"].startswith(phone_prefix)]


def _lines(log: Path, phone_prefix: str) -> int:
    return len(_records(log, phone_prefix))


def _received(log: Path) -> dict[str, datetime]:
    """When the gateway first got an SMS for each pipeline phone (one phone per incident)."""
    received: dict[str, datetime] = {}
    for record in _records(log, PIPELINE_PREFIX):
        received.setdefault(record["phone"], datetime.fromisoformat(record["received_at"]))
    return received


async def _wait_for(log: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_received(log)) >= count:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway got {len(_received(log))} of {count} SMS in time")


async def _raw_posts(url: str, count: int, concurrency: int) -> dict[str, float]:
    """The gateway alone: `concurrency` clients posting SMS one after another."""
    latencies: list[float] = []

    async def client(worker: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for n in range(worker, count, concurrency):
                started = time.perf_counter()
                sms = {"phone": f"{BASELINE_PREFIX}{n:08d}", "text": "【网格督办】基线"}
                response = await http.post(url + "/sms", json=sms, headers={"Idempotency-Key": str(uuid.uuid4())})
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rate": count / elapsed, "p50": statistics.median(latencies), "p99": _pct(latencies, 99)}


def _start(role: str, env: dict[str, str], workdir: Path) -> subprocess.Popen:
    log = (workdir / f"{role}-{uuid.uuid4().hex[:4]}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "services.notifications", role], cwd=ROOT,
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
