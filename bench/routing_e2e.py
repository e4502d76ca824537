"""Routing end to end through Kafka: `intake.incident.received` in, `routing.incident.*` out.

The real `python -m services.routing consume` and `relay` processes run against a throwaway database
holding the 15,000-grid synthetic city, on a private topic prefix of the local broker. The bench
publishes N incidents (most with coordinates, some with an address only, as 12345 orders come) and
reads the assignments topic, matching each output to its input by key (the incident id):

- burst: all N published at once; assigned events out per second (first publish → last output);
- paced: a steady rate for `seconds` (70 % of the first burst's rate, at most 500/s); latency from
  publish to the assigned event, p50/p99, and where it goes (from each output's own stamps: its
  envelope's time, its record's timestamp);

with one consume process (the default deployment), then two sharing the six partitions.

Baseline in the same run, same volume and rate: a bare aiokafka consume → produce pass-through (the
platform's consumer and producer settings, offsets committed after the sends, no database) as its
own process. `python -m bench.routing_e2e passthrough SRC DST GROUP` is that process.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import ROOT, Figure, create_database, drop_database
from deploy.demo.synthetic_city import CityPlan, generate_city, sample_points
from services.routing.bootstrap import pg_message_bus
from services.routing.domain.assignment import Unit, Worker
from services.routing.domain.commands import ImportGrids, LoadDirectory
from shared.clock import RealClock
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived, Point
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.topics import ALL_TOPICS, ASSIGNMENTS, INCIDENTS, PARTITIONS, ensure_topics
from tests.support import delete_topics

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BURST = 10_000
ADDRESS_SHARE = 0.1        # incidents with an address and no coordinates (12345 orders, phone reports)
WARM_UP = 50
MAX_PACED_RATE = 500.0     # DESIGN §9's sustained end-to-end target
STALL_SECONDS = 120.0       # no new output for this long: the pipeline is stuck, say so
CONSUMERS = (1, 2)         # the default deployment, then two consume processes sharing the 6 partitions


@dataclass
class Pass:
    """One publishing pass: send times and arrival times by incident id."""

    sent: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    # Each output's own stamps, epoch seconds: its envelope's `time` (routing wrote it, in the transaction that
    # made it) and its Kafka record's timestamp (the relay sent it).
    stamps: dict[str, tuple[float, float]] = field(default_factory=dict)
    wall_offset: float = field(default_factory=lambda: time.time() - time.perf_counter())

    def wall(self, stamp: float) -> float:
        return stamp + self.wall_offset

    def rate(self) -> float:
        return len(self.arrived) / (max(self.arrived.values()) - min(self.sent.values()))

    def latencies_ms(self) -> tuple[float, float, float]:
        samples = sorted((self.arrived[k] - self.sent[k]) * 1000 for k in self.arrived)
        cuts = statistics.quantiles(samples, n=100)
        return cuts[49], cuts[98], samples[-1]


def run(seconds: int = 15, grids: int = 15_000, burst: int = BURST,
        consumers: tuple[int, ...] = CONSUMERS) -> list[Figure]:
    return asyncio.run(_run(seconds, grids, burst, consumers))


@dataclass
class Outcome:
    consumers: int
    burst: Pass
    paced: Pass
    stages: dict[str, list[float]]


async def _run(seconds: int, grids: int, burst: int, consumers: tuple[int, ...]) -> list[Figure]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    baseline_in, baseline_out = prefix + "baseline.in", prefix + "baseline.out"
    await ensure_topics(KAFKA, prefix)
    await _create_topics([baseline_in, baseline_out])
    name, dsn = await create_database("routing_e2e")
    collection, directory = generate_city(CityPlan(grids=grids))
    outcomes: list[Outcome] = []
    rate: float | None = None
    try:
        import_seconds = await _load_city(dsn, collection, directory)
        per_pass = burst + int(MAX_PACED_RATE * seconds) + WARM_UP
        # Each routing pass gets incidents of its own: the inbox would turn repeats into no-ops.
        incidents = _incidents(collection, per_pass * len(consumers))
        env = {"ROUTING_DATABASE_URL": dsn, "KAFKA_TOPIC_PREFIX": prefix, "KAFKA_BOOTSTRAP": KAFKA,
               "LOG_LEVEL": "WARNING", "ENV": "test"}
        print(f"  city imported in {import_seconds:.1f} s", flush=True)
        for count in consumers:
            # Later passes join the same consumer group: they resume after what the earlier pass committed.
            print(f"  routing, {count} consume + 1 relay: burst of {burst:,}, then "
                  f"{f'{rate:,.0f}/s' if rate else '70 % of it'} …", flush=True)
            routing = ([[sys.executable, "-m", "services.routing", "consume"]] * count
                       + [[sys.executable, "-m", "services.routing", "relay"]])
            with _processes(routing, env):
                own = incidents[len(outcomes) * per_pass:(len(outcomes) + 1) * per_pass]
                burst_pass, paced_pass, rate = await _measure(own, prefix + INCIDENTS, prefix + ASSIGNMENTS,
                                                              burst, seconds, rate=rate)
            outcomes.append(Outcome(count, burst_pass, paced_pass, _stages(paced_pass)))
        assert rate is not None
        print(f"  baseline pass-through: burst of {burst:,}, then {rate:,.0f}/s …", flush=True)
        passthrough = [[sys.executable, "-m", "bench.routing_e2e", "passthrough", baseline_in, baseline_out,
                        prefix + "passthrough"]]
        with _processes(passthrough, {"KAFKA_BOOTSTRAP": KAFKA}):
            b_burst, b_paced, _ = await _measure(incidents, baseline_in, baseline_out, burst, seconds, rate=rate)
    finally:
        await drop_database(name)
        await delete_topics(KAFKA, [prefix + t for t in ALL_TOPICS] + [baseline_in, baseline_out])
    b50, b99, bmax = b_paced.latencies_ms()
    common = {"grids": grids, "burst": burst, "address_only_share": ADDRESS_SHARE, "partitions": PARTITIONS,
              "city_import_seconds": round(import_seconds, 2), "paced_rate_per_s": round(rate),
              "paced_seconds": seconds, "baseline_burst_p99_ms": round(b_burst.latencies_ms()[1], 1),
              "baseline_paced_max_ms": round(bmax, 1)}
    figures = []
    for o in outcomes:
        p50, p99, pmax = o.paced.latencies_ms()
        label = f"{o.consumers} consume"
        notes = {**common, "outputs": o.burst.kinds, "burst_p99_ms": round(o.burst.latencies_ms()[1], 1),
                 "paced_max_ms": round(pmax, 1), "stages_p50_p99_ms": o.stages}
        figures += [
            Figure("routing.e2e", f"assigned out, burst ({label})", o.burst.rate(), "incidents/s", b_burst.rate(),
                   "aiokafka consume→produce pass-through", "", notes),
            Figure("routing.e2e", f"publish→assigned p50 at {rate:,.0f}/s ({label})", p50, "ms", b50,
                   "pass-through"),
            Figure("routing.e2e", f"publish→assigned p99 at {rate:,.0f}/s ({label})", p99, "ms", b99,
                   "pass-through", "≤ 1,000 ms end to end (all services)"),
        ]
    return figures


def _stages(paced: Pass) -> dict[str, list[float]]:
    """Where the paced latency goes, from each output's stamps (the bench's, routing's and the producer's clocks
    are the same machine's): published → routing wrote the assignment, → the relay sent it, → the collector read
    it. (The relay deletes its outbox rows once published: the event carries the stamps.)"""
    parts: dict[str, list[float]] = {"queued_before_consumer": [], "consumer_to_relay_sent": [],
                                     "sent_to_read": []}
    for key, (written, sent) in paced.stamps.items():
        published, arrived = paced.wall(paced.sent[key]), paced.wall(paced.arrived[key])
        parts["queued_before_consumer"].append((written - published) * 1000)
        parts["consumer_to_relay_sent"].append((sent - written) * 1000)
        parts["sent_to_read"].append((arrived - sent) * 1000)
    return {name: [round(statistics.median(v), 1), round(statistics.quantiles(v, n=100)[98], 1)]
            for name, v in parts.items() if len(v) > 1}


async def _measure(incidents: list[tuple[str, bytes]], source: str, sink: str, burst: int, seconds: int,
                   rate: float | None) -> tuple[Pass, Pass, float]:
    """Warm up, a burst, then a paced pass (at `rate`, or 70 % of the burst's rate up to 500/s)."""
    feed = iter(incidents)
    collector = Collector(sink)
    await collector.start()
    producer = make_producer(KAFKA)
    await producer.start()
    try:
        await _publish(producer, source, collector, [next(feed) for _ in range(WARM_UP)], None)  # loads the city
        burst_pass = await _publish(producer, source, collector, [next(feed) for _ in range(burst)], None)
        if rate is None:
            rate = min(MAX_PACED_RATE, 0.7 * burst_pass.rate())
        paced = [next(feed) for _ in range(int(rate * seconds))]
        paced_pass = await _publish(producer, source, collector, paced, rate)
    finally:
        await producer.stop()
        await collector.stop()
    return burst_pass, paced_pass, rate


async def _publish(producer: Any, topic: str, collector: Collector, batch: list[tuple[str, bytes]],
                   rate: float | None) -> Pass:
    result = Pass()
    collector.expect(result)
    started = time.perf_counter()
    sends = []
    for i, (key, value) in enumerate(batch):
        if rate is not None:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        result.sent[key] = time.perf_counter()
        sends.append(await producer.send(topic, value, key=key.encode()))
    await asyncio.gather(*sends)
    await collector.wait_for(len(batch))
    return result


class Collector:
    """Reads the output topic from its end as it was before publishing; stamps each arrival."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False, group_id=None,
                                         max_poll_records=1000)
        self.current = Pass()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        # The bench created the topic with PARTITIONS partitions.
        partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    def expect(self, result: Pass) -> None:
        self.current = result

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    if key in self.current.sent and key not in self.current.arrived:
                        self.current.arrived[key] = now
                        envelope = json.loads(record.value) if record.value else {}
                        kind = envelope.get("type", "?")
                        self.current.kinds[kind] = self.current.kinds.get(kind, 0) + 1
                        if "time" in envelope:
                            self.current.stamps[key] = (datetime.fromisoformat(envelope["time"]).timestamp(),
                                                        record.timestamp / 1000)

    async def wait_for(self, count: int) -> None:
        progress, stalled_since = -1, time.monotonic()
        while len(self.current.arrived) < count:
            if len(self.current.arrived) != progress:
                progress, stalled_since = len(self.current.arrived), time.monotonic()
            elif time.monotonic() - stalled_since > STALL_SECONDS:
                raise RuntimeError(f"only {progress} of {count} outputs on {self.topic}, none for "
                                   f"{STALL_SECONDS:.0f} s")
            if self._task is not None and self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


def _incidents(collection: dict[str, Any], count: int) -> list[tuple[str, bytes]]:
    """(key, envelope) pairs: coordinates inside the city's grids, or an address naming one of its places."""
    rng = random.Random(23)
    points = sample_points(collection, count, seed=17)
    named = [f["properties"]["name"] for f in collection["features"]
             if f["properties"]["level"] == "community" or f["properties"].get("kind") == "dedicated"]
    categories = ["city.garbage", "city.ads", "dispute.neighbour", "infra.facility", "safety.fire", "env.noise"]
    now = datetime.now(UTC)
    out = []
    for lon, lat in points:
        by_address = rng.random() < ADDRESS_SHARE
        event = IncidentReceived(
            incident_id=uuid.uuid4(), at=now, source="hotline" if by_address else "gridworker",
            category=rng.choice(categories), urgency="normal", title="bench", reported_at=now,
            location=None if by_address else Point(lon=lon, lat=lat),
            address=f"{rng.choice(named)}{rng.randint(1, 40)}号楼" if by_address else None)
        envelope = Envelope.wrap(event, source="/intake", time=now)
        out.append((envelope.subject, envelope.model_dump_json().encode()))
    return out


async def _load_city(dsn: str, collection: dict[str, Any], directory: dict[str, Any]) -> float:
    await migrate(dsn, ROOT / "services" / "routing")
    pool = await create_pool(dsn, 1, 2)
    try:
        bus = pg_message_bus(pool, RealClock())
        started = time.perf_counter()
        await bus.handle(ImportGrids(collection))
        elapsed = time.perf_counter() - started
        units = [Unit(x["id"], x["kind"], x["name"], tuple(x["area"]), x.get("department")) for x in directory["units"]]
        workers = [Worker(w["id"], w["name"], w["phone"], w["unit_id"], tuple(w["grid_codes"]), w["on_duty"])
                   for w in directory["workers"]]
        await bus.handle(LoadDirectory(tuple(units), tuple(workers)))
        await pool.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load (GIN pending lists)
        return elapsed
    finally:
        await pool.close()


class _processes:
    """Child processes for the length of a block, stopped with SIGTERM (then killed) afterwards."""

    def __init__(self, commands: list[list[str]], env: dict[str, str]) -> None:
        self.commands, self.env = commands, env
        self.children: list[subprocess.Popen[bytes]] = []
        self.log = tempfile.TemporaryFile()

    def __enter__(self) -> _processes:
        for command in self.commands:
            self.children.append(subprocess.Popen(command, cwd=ROOT, env={**os.environ, **self.env},
                                                  stdout=self.log, stderr=subprocess.STDOUT))
        return self

    def __exit__(self, *exc: object) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if exc[0] is not None:
            self.log.seek(0)
            print(self.log.read().decode(errors="replace")[-4000:], file=sys.stderr)
        self.log.close()


async def _create_topics(names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def passthrough(source: str, sink: str, group: str, stop: Callable[[], bool] = lambda: False) -> None:
    """The baseline: consume, produce each record unchanged, commit after the sends are acknowledged."""
    consumer = make_consumer(KAFKA, group, [source])
    producer = make_producer(KAFKA)
    await producer.start()
    await consumer.start()
    try:
        while not stop():
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batch.items():
                sends = [await producer.send(sink, r.value, key=r.key) for r in records]
                await asyncio.gather(*sends)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":  # python -m bench.routing_e2e passthrough SRC DST GROUP
    import signal

    if sys.argv[1:2] != ["passthrough"] or len(sys.argv) != 5:
        sys.exit(__doc__)
    stopping = False

    def _stop(*_: object) -> None:
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    asyncio.run(passthrough(sys.argv[2], sys.argv[3], sys.argv[4], lambda: stopping))
