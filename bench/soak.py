"""Memory (issue 18 item 5, DESIGN §9): the idle stack's memory, and whether any role grows at full load.

`python -m bench soak [--minutes 30] [--warm-up-minutes 2]` (`make bench-soak SOAK_MINUTES=30`). One private stack
(tests.e2e.stack.running_stack: every role its own process, private databases, topics and ports), set up as the
stack bench sets it up (bench/stack_e2e.py's helpers: the 15,000-grid city, a desk contact per community, the
first thousand cases and ANALYZE), then:

- idle memory: the stack quiet after that warm-up; PSS (/proc/<pid>/smaps_rollup) of every role, of Postgres
  (its background processes and this stack's backends) and of Kafka, and their RSS beside it. Baselines: the 2 GiB
  target, and a bare interpreter importing the roles' packages (times the number of role processes: the floor of
  one process per role);
- full load for `--minutes`: reports posted closed-loop (at most BACKLOG cases posted and not yet notified, and no
  consumer group more than LAG_BOUND messages behind, so the pipeline always has work and its queues stay bounded:
  the rate is what the stack carries end to end, every consumer included), each
  role's RSS sampled every SAMPLE_SECONDS. After `--warm-up-minutes` the measured window starts: per role the RSS
  at its start, at its end, the max and the least-squares slope (MiB per 10 min). Verdict "flat" when the slope's
  growth over the window is under 5 % of the start and under 20 MiB (see FLAT_*). Baseline of a slope: 0, the
  threshold beside it.

The duplicate rule is switched off (INTAKE_DUPLICATE_RADIUS_M=0): at hundreds of reports a second a 30-minute run
puts an open case within 50 m of almost every point of the city, and the load would drift from routed cases to
linked duplicates (which stop at intake) — not a steady load to watch memory under. Every report is a new case,
the path that touches every role.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import RESULTS, ROOT, Figure, least_squares_slope, memory_kib, report
from bench.stack_e2e import (
    CATEGORIES,
    SETTLE,
    WARM_UP,
    _community_desks,
    _load_city,
    _roles,
    warm_up,
)
from deploy.demo.synthetic_city import sample_points
from shared.messaging.topics import ensure_topics
from tests.e2e.stack import SERVICES, Stack, running_stack
from tests.support import KAFKA_BOOTSTRAP

QUIET_SECONDS = 15  # idle: nothing arriving for this long before idle memory is read
CONCURRENCY = 32    # requests under way at once
BACKLOG = 2_000     # cases posted and not yet notified, at most (a few seconds of the pipeline's work)
LAG_BOUND = 3_000   # and no consumer group further behind than this many messages (the supervision consumer
                    # does not hold up the SMS: without this bound it fell behind, 26,000 after 4 minutes). Read
                    # from committed offsets, which trail what a consumer applied by up to a second's events
                    # (shared/messaging/consumer.py COMMIT_INTERVAL): 2,000 before that, plus about that second
LOST_AFTER = 120.0  # a case not notified this long after its post is counted lost and stops holding the gate
SAMPLE_SECONDS = 10.0
FLAT_FRACTION = 0.05  # growth over the window under 5 % of the start ...
FLAT_MIB = 20.0       # ... and under 20 MiB: flat
JITTER_DEG = 2e-5   # ~2 m around each sampled point: no two reports at one place
NOT_ROLES = ("bench client", "wrk", "postgres", "kafka")
# What the roles import from outside the repository (pyproject's dependencies a role loads at start).
BARE_IMPORTS = ("fastapi", "uvicorn", "uvloop", "httptools", "aiokafka", "pydantic", "pydantic_settings", "asyncpg",
                "httpx", "aiohttp", "structlog", "prometheus_client", "jwt", "cryptography", "sse_starlette",
                "typer", "shapely", "aiosmtplib")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes at full load, warm-up included")
    parser.add_argument("--warm-up-minutes", type=float, default=2.0, help="minutes of load before the window")
    parser.add_argument("--trace", metavar="ROLE", help="run this role (e.g. 'routing consume') under tracemalloc "
                        "and write the allocations that grew over the window (its figures then include the "
                        "tracer's own memory: an investigation, not a measurement)")
    args = parser.parse_args(argv)
    if args.minutes <= args.warm_up_minutes:
        parser.error("--minutes must exceed --warm-up-minutes")
    report(asyncio.run(_run(args.minutes, args.warm_up_minutes, args.trace)))
    return 0


@dataclass
class Sample:
    at: float  # seconds since the load started
    carried: int  # cases notified so far in the load
    by_role: dict[str, dict[str, float]]  # role → rss / pss / anon / uss MiB and processes


def _memory_by_role(stack: Stack) -> dict[str, dict[str, float]]:
    held: dict[str, dict[str, float]] = {}
    for pid, role in _roles(stack):
        memory = memory_kib(pid)
        if memory is None:
            continue
        into = held.setdefault(role, {"rss": 0.0, "pss": 0.0, "anon": 0.0, "uss": 0.0, "processes": 0})
        for key, kib in memory.items():
            into[key] += kib / 1024
        into["processes"] += 1
    return held


def _bare_interpreter() -> dict[str, float]:
    """RSS / PSS of a bare interpreter that imported the roles' packages, measured beside the stack (its shared
    libraries split with the roles' as theirs are)."""
    code = (f"import {', '.join(BARE_IMPORTS)}, sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); "
            "sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(0.5)
        memory = memory_kib(process.pid) or {}
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=15)
    return {key: round(kib / 1024, 1) for key, kib in memory.items()}


@dataclass
class Tracker:
    """Cases posted and not yet notified (the gate), from the gateway's JSON-lines log read as it grows."""

    log: Path
    offset: int = 0
    partial: bytes = b""
    in_flight: dict[str, float] = field(default_factory=dict)
    early: set[str] = field(default_factory=set)  # notified before their post's answer came back
    posted: int = 0
    notified: int = 0
    lost: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    lagging: bool = False  # a consumer group is more than LAG_BOUND behind: the gate is shut
    errors: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def post(self, ref: str) -> None:
        self.posted += 1
        if ref in self.early:
            self.early.discard(ref)
            self.notified += 1
        else:
            self.in_flight[ref] = time.monotonic()

    def read(self) -> None:
        if not self.log.exists():
            return
        with self.log.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for line in lines:
            text = json.loads(line).get("text", "") if line.strip() else ""
            if "新案件" not in text:
                continue
            ref = text.split("新案件", 1)[1][:8]
            if self.in_flight.pop(ref, None) is not None:
                self.notified += 1
            else:
                self.early.add(ref)
        now = time.monotonic()
        for ref in [ref for ref, at in self.in_flight.items() if now - at > LOST_AFTER]:
            del self.in_flight[ref]
            self.lost += 1


async def _drive(stack: Stack, points: list[tuple[float, float]], tracker: Tracker, until: float) -> None:
    """Post urgent reports from CONCURRENCY workers while fewer than BACKLOG cases are on their way."""
    url = stack.url("intake") + "/v1/incidents"
    headers = {"Authorization": f"Bearer {stack.admin_token}"}

    async def worker(n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < until:
            if len(tracker.in_flight) >= BACKLOG or tracker.lagging:
                await asyncio.sleep(0.02)
                continue
            lon, lat = points[rng.randrange(len(points))]
            category, title = rng.choice(CATEGORIES)
            body = {"source": "gridworker", "category": category, "urgency": "urgent", "title": title,
                    "location": {"lon": round(lon + rng.uniform(-JITTER_DEG, JITTER_DEG), 7),
                                 "lat": round(lat + rng.uniform(-JITTER_DEG, JITTER_DEG), 7)}}
            key = str(uuid.uuid4())  # a retry after a dropped connection is the same report
            status, answer = 0, None
            for attempt in range(3):
                try:
                    async with session.post(url, json=body, headers={"Idempotency-Key": key}) as response:
                        status = response.status
                        answer = await response.json() if status == 202 else None
                    break
                except (TimeoutError, aiohttp.ClientError):
                    if attempt == 2:
                        status = -1
                    await asyncio.sleep(0.2)
            if status == 202 and answer:
                tracker.post(answer["id"][:8])
            else:
                tracker.rejected[status] = tracker.rejected.get(status, 0) + 1
                await asyncio.sleep(0.2)

    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30),
                                     connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))


async def _follow(tracker: Tracker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        tracker.read()
        await asyncio.sleep(0.2)


async def _sample(stack: Stack, tracker: Tracker, started: float, samples: list[Sample], stop: asyncio.Event) -> None:
    while not stop.is_set():
        by_role = await asyncio.to_thread(_memory_by_role, stack)
        samples.append(Sample(round(time.monotonic() - started, 1), tracker.notified, by_role))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)
        except TimeoutError:
            pass


class Lag:
    """Each service's consumer group: messages on its topics not yet committed (end offset − committed)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
        self.reader = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP)
        self.last: dict[str, int] = {}
        self.most: dict[str, int] = {}  # the largest lag each group had while watched

    async def __aenter__(self) -> Lag:
        await self.admin.start()
        await self.reader.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reader.stop()
        await self.admin.close()

    async def read(self) -> dict[str, int]:
        lags: dict[str, int] = {}
        for service in SERVICES:
            committed = await self.admin.list_consumer_group_offsets(self.prefix + service)
            partitions: list[TopicPartition] = [tp for tp, meta in committed.items() if meta.offset >= 0]
            ends = await self.reader.end_offsets(partitions) if partitions else {}
            lags[service] = sum(ends[tp] - committed[tp].offset for tp in partitions)
            self.most[service] = max(self.most.get(service, 0), lags[service])
        self.last = lags
        return lags

    async def watch(self, tracker: Tracker, stop: asyncio.Event) -> None:
        """Hold the gate shut while any group is more than LAG_BOUND messages behind."""
        while not stop.is_set():
            try:
                tracker.lagging = max((await self.read()).values(), default=0) > LAG_BOUND
            except Exception as error:  # noqa: BLE001  (a broker hiccup: keep the last verdict, try again)
                tracker.errors.append(repr(error))
            await asyncio.sleep(1.0)


async def _unsent(stack: Stack) -> dict[str, int]:
    """Rows each service's outbox has not published yet, and notifications' deliveries not yet sent."""
    import asyncpg

    counts: dict[str, int] = {}
    for service, dsn in stack.databases.items():
        conn = await asyncpg.connect(dsn)
        try:
            counts[f"{service} outbox"] = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            if service == "notifications":
                counts["notifications deliveries pending"] = await conn.fetchval(
                    "SELECT count(*) FROM delivery WHERE status = 'pending'")
        except asyncpg.PostgresError as error:
            counts[f"{service} ({type(error).__name__})"] = -1
        finally:
            await conn.close()
    return counts


def _trend(samples: list[Sample], role: str, key: str = "rss") -> dict[str, float | str]:
    """start / end / max of the window's samples, the slope (MiB per 10 min) and the verdict."""
    points = [(s.at, s.by_role[role][key]) for s in samples if role in s.by_role]
    if len(points) < 2:
        return {"verdict": "too few samples"}
    xs, ys = [x for x, _ in points], [y for _, y in points]
    slope = least_squares_slope(xs, ys)  # MiB per second
    span = xs[-1] - xs[0]
    growth = slope * span
    half = len(points) // 2
    late = least_squares_slope(xs[half:], ys[half:]) * 600
    flat = growth < FLAT_FRACTION * ys[0] and growth < FLAT_MIB
    return {"start_mib": round(ys[0], 1), "end_mib": round(ys[-1], 1), "max_mib": round(max(ys), 1),
            "min_mib": round(min(ys), 1), "slope_mib_per_10min": round(slope * 600, 2),
            "second_half_slope_mib_per_10min": round(late, 2), "fitted_growth_mib": round(growth, 1),
            "fitted_growth_percent": round(100 * growth / ys[0], 2) if ys[0] else 0.0,
            "window_minutes": round(span / 60, 1), "samples": len(points), "verdict": "flat" if flat else "grows"}


# A role's own entry point under tracemalloc, a snapshot dumped every SOAK_TRACE_SECONDS (no change to the role).
TRACER = """
import os, runpy, sys, threading, time, tracemalloc
tracemalloc.start(int(os.environ.get("SOAK_TRACE_FRAMES", "12")))
def dump():
    n = 0
    while True:
        time.sleep(float(os.environ["SOAK_TRACE_SECONDS"]))
        tracemalloc.take_snapshot().dump(os.path.join(os.environ["SOAK_TRACE_DIR"], f"snapshot-{n:03d}.pickle"))
        n += 1
threading.Thread(target=dump, daemon=True).start()
sys.argv = sys.argv[2:]  # after "-m": the module and the role (as `-m` would leave them)
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _trace(stack: Stack, role: str, every: float) -> Path:
    """Replace the role's process with one under tracemalloc; its snapshots land in the returned directory."""
    service, name = role.split()
    out = stack.workdir / f"trace-{service}-{name}"
    out.mkdir(exist_ok=True)
    stack.kill(service, name, signal.SIGTERM)
    with stack.log_path(service, name).open("ab") as log:
        stack.processes[(service, name)] = subprocess.Popen(
            # "-m services.<service> <role>" on its command line: the samplers find it as they find the others
            [sys.executable, "-c", TRACER, "-m", f"services.{service}", name], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT,
            env={**stack.env(), "SOAK_TRACE_DIR": str(out), "SOAK_TRACE_SECONDS": str(every)},
            start_new_session=True)
    return out


def _trace_report(out: Path, role: str, warm_up_seconds: float, every: float) -> list[str]:
    """The allocations that grew between the first snapshot after the warm-up and the last one."""
    import tracemalloc

    snapshots = sorted(out.glob("snapshot-*.pickle"))
    first = next((p for p in snapshots if (int(p.stem.split("-")[1]) + 1) * every >= warm_up_seconds), None)
    if first is None or first == snapshots[-1]:
        return [f"trace of {role}: too few snapshots ({len(snapshots)})"]
    old, new = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(snapshots[-1]))
    lines = [f"# tracemalloc, {role}: {first.name} → {snapshots[-1].name} (every {every:g} s)", "",
             f"traced: {sum(s.size for s in old.statistics('filename')) / 2**20:.1f} → "
             f"{sum(s.size for s in new.statistics('filename')) / 2**20:.1f} MiB", "", "## grew most, by line", ""]
    for stat in new.compare_to(old, "lineno")[:25]:
        lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  {stat.traceback[0]}")
    lines += ["", "## grew most, by traceback (top 5)", ""]
    for stat in new.compare_to(old, "traceback")[:5]:
        lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        lines += [f"    {frame}" for frame in stat.traceback.format()]
    return lines


async def _run(minutes: float, warm_up_minutes: float, trace: str | None) -> list[Figure]:
    prefix = f"s{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    samples: list[Sample] = []
    print(f"soak: stack under {workdir}", flush=True)
    async with running_stack(workdir, prefix, extra_env={"INTAKE_DUPLICATE_RADIUS_M": "0"}) as stack:
        grids = _load_city(stack)
        await _community_desks(stack, grids)
        points = sample_points(grids, 60_000, seed=29)
        await warm_up(stack, points)   # as the stack bench: WARM_UP slowly, SETTLE more, ANALYZE
        await asyncio.sleep(QUIET_SECONDS)
        idle = _memory_by_role(stack)
        bare = _bare_interpreter()
        every = max(10.0, 60 * minutes / 20)
        traced = _trace(stack, trace, every) if trace else None
        if traced is not None:
            await asyncio.sleep(10)  # a worker has no /ready: give it time to join its group
        print(f"soak: idle read; {minutes:g} min of load from {datetime.now(UTC):%H:%M:%S} UTC", flush=True)

        tracker = Tracker(stack.workdir / "sms.jsonl")
        tracker.start()
        stop = asyncio.Event()
        started = time.monotonic()
        following = asyncio.create_task(_follow(tracker, stop))
        sampling = asyncio.create_task(_sample(stack, tracker, started, samples, stop))
        lag = await Lag(prefix).__aenter__()
        watching = asyncio.create_task(lag.watch(tracker, stop))
        try:
            await _drive(stack, points[WARM_UP + SETTLE:], tracker, started + 60 * minutes)
            load_seconds = time.monotonic() - started
            tracker.read()
            in_flight_at_end, lag_at_end = len(tracker.in_flight), await lag.read()
            unsent_at_end = await _unsent(stack)
            drain_started = time.monotonic()
            for _ in range(int(LOST_AFTER)):  # until the cases on their way are notified and every group caught up
                if not tracker.in_flight and not any(lag.last.values()):
                    break
                await asyncio.sleep(1.0)
            drained_seconds = time.monotonic() - drain_started
            await asyncio.sleep(2)
            lag_after, unsent_after = await lag.read(), await _unsent(stack)
        finally:
            stop.set()
            await asyncio.gather(following, sampling, watching)
            await lag.__aexit__()
        after_load = _memory_by_role(stack)
        if traced is not None and trace is not None:
            lines = _trace_report(traced, trace, 60 * warm_up_minutes, every)
            RESULTS.mkdir(parents=True, exist_ok=True)
            path = RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-trace-{trace.replace(' ', '-')}.txt"
            path.write_text("\n".join(lines), encoding="utf-8")
            print("\n".join(lines), f"\ntrace: {path.relative_to(ROOT)}", sep="\n", flush=True)
    return _figures(minutes, warm_up_minutes, idle, bare, samples, tracker, load_seconds,
                    {"in_flight_at_end": in_flight_at_end, "kafka_lag_at_end": lag_at_end,
                     "unsent_at_end": unsent_at_end, "drained_seconds": round(drained_seconds, 1),
                     "kafka_lag_after_drain": lag_after, "unsent_after_drain": unsent_after,
                     "kafka_lag_most_while_loaded": lag.most, "lag_bound": LAG_BOUND,
                     "watch_errors": tracker.errors[:5]}, after_load)


def _figures(minutes: float, warm_up_minutes: float, idle: dict[str, dict[str, float]], bare: dict[str, float],
             samples: list[Sample], tracker: Tracker, load_seconds: float, kept_up: dict[str, object],
             after_load: dict[str, dict[str, float]]) -> list[Figure]:
    roles = sorted(role for role in idle if role not in NOT_ROLES)
    processes = int(sum(idle[role]["processes"] for role in roles))
    pss = {role: round(idle[role]["pss"], 1) for role in sorted(idle) if role not in ("bench client", "wrk")}
    rss = {role: round(idle[role]["rss"], 1) for role in sorted(idle) if role not in ("bench client", "wrk")}
    roles_pss = round(sum(pss[role] for role in roles), 1)
    total = round(sum(pss.values()), 1)
    memory_notes = {"pss_mib_by_role": pss, "rss_mib_by_role": rss, "service_roles_pss_mib": roles_pss,
                    "service_roles_rss_mib": round(sum(rss[role] for role in roles), 1),
                    "postgres_pss_mib": pss.get("postgres", 0.0), "kafka_pss_mib": pss.get("kafka", 0.0),
                    "role_processes": processes, "bare_interpreter_mib": bare, "bare_imports": list(BARE_IMPORTS),
                    "after_load_pss_mib_by_role": {r: round(m["pss"], 1) for r, m in sorted(after_load.items())},
                    "after_load_rss_mib_by_role": {r: round(m["rss"], 1) for r, m in sorted(after_load.items())}}
    figures = [
        Figure("soak", "idle stack memory, PSS (service roles + Postgres + Kafka)", total, "MiB", 2048.0,
               "the target, 2 GiB", "≤ 2 GiB", memory_notes),
        Figure("soak", f"idle service roles, PSS ({processes} processes)", roles_pss, "MiB",
               round(processes * bare.get("pss", 0.0), 1), f"bare python importing the roles' packages × {processes}",
               "", memory_notes)]
    window = [s for s in samples if s.at >= 60 * warm_up_minutes]
    seen = sorted({role for s in window for role in s.by_role} - {"bench client", "wrk"})
    trends = {role: _trend(window, role, "pss" if role == "postgres" else "rss") for role in seen}
    anon = {role: _trend(window, role, "anon") for role in trends}
    measured = window[-1].carried - window[0].carried if len(window) > 1 else 0
    span = window[-1].at - window[0].at if len(window) > 1 else 0.0
    carried_notes: dict[str, object] = {
        "minutes": minutes, "warm_up_minutes": warm_up_minutes, "load_seconds": round(load_seconds, 1),
        "posted": tracker.posted, "notified": tracker.notified, "lost_after_120s": tracker.lost,
        "rejected_by_status": {str(k): v for k, v in tracker.rejected.items()},
        "notified_in_window": measured, "window_seconds": round(span, 1), "backlog_bound": BACKLOG,
        "concurrency": CONCURRENCY, **kept_up,
        "threshold": f"flat: fitted growth over the window < {FLAT_FRACTION:.0%} of the start and < {FLAT_MIB:g} MiB"}
    figures.append(Figure("soak", "incidents carried per second, full load (measured window)",
                          measured / span if span else 0.0, "incidents/s", None, "", "≥ 600/s (DESIGN §9)",
                          carried_notes))
    for role, trend in trends.items():
        service_role = role not in NOT_ROLES
        label = trend["verdict"] if service_role else f"{trend['verdict']}, not a service role"
        kind = "PSS" if role == "postgres" else "RSS"
        figures.append(Figure("soak", f"{role}: {kind} slope at full load ({label})",
                              float(trend.get("slope_mib_per_10min", 0.0)), "MiB/10 min", 0.0,
                              "flat (threshold in notes)", "flat" if service_role else "",
                              {**trend, "anon": anon[role], "threshold": carried_notes["threshold"]}))
    _write_table(figures, trends, anon, carried_notes, samples)
    return figures


def _write_table(figures: list[Figure], trends: dict[str, dict[str, float | str]],
                 anon: dict[str, dict[str, float | str]], carried: dict[str, object], samples: list[Sample]) -> None:
    """bench/results/soak-<stamp>.md (the per-role table) and soak-<stamp>-samples.json (every sample)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    idle = figures[0].notes
    pss, rss = idle["pss_mib_by_role"], idle["rss_mib_by_role"]
    assert isinstance(pss, dict) and isinstance(rss, dict)
    lines = [f"# Soak {stamp}", "", "## Idle memory (MiB)", "", "| role | PSS | RSS |", "|---|---|---|"]
    lines += [f"| {role} | {pss[role]:,.1f} | {rss[role]:,.1f} |" for role in pss]
    lines += [f"| **total** | **{figures[0].value:,.1f}** | {sum(rss.values()):,.1f} |", "",
              f"Service roles: {figures[1].value:,.1f} MiB PSS; bare interpreter: {idle['bare_interpreter_mib']}.",
              "", f"## RSS at full load, measured window ({carried['threshold']}; MiB)", "",
              "| role | start | end | max | slope /10 min | 2nd-half slope | growth | anon start → end | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for role, t in trends.items():
        a = anon[role]
        lines.append(f"| {role} | {t.get('start_mib')} | {t.get('end_mib')} | {t.get('max_mib')} | "
                     f"{t.get('slope_mib_per_10min')} | {t.get('second_half_slope_mib_per_10min')} | "
                     f"{t.get('fitted_growth_mib')} ({t.get('fitted_growth_percent')} %) | "
                     f"{a.get('start_mib')} → {a.get('end_mib')} | {t['verdict']} |")
    lines += ["", "## Load", "", "```", json.dumps(carried, indent=2, ensure_ascii=False), "```", ""]
    path = RESULTS / f"soak-{stamp}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / f"soak-{stamp}-samples.json").write_text(json.dumps(
        [{"at": s.at, "carried": s.carried, "by_role": {r: {k: round(v, 1) for k, v in m.items()}
                                                         for r, m in s.by_role.items()}} for s in samples]))
    print("\n".join(lines), flush=True)
    print(f"soak table: {path.relative_to(ROOT)}", flush=True)
