"""The whole stack end to end: a report over HTTP → routing → the owner's new-case SMS at the gateway.

Every role runs as its own process (the e2e tests' Stack: private databases, topics and ports) with the
15,000-grid synthetic city loaded and a desk contact for every community (an off-duty grid worker's
case goes to the community). Urgent reports (their notice is not bundled) are posted:

- full load: wrk posts from 32 connections for `seconds`; owners notified per second (new-case SMS at
  the gateway from the start of the load to the last of them);
- paced: a steady rate for `seconds`; latency from the post to the gateway recording the SMS, p50/p99;
- idle memory (DESIGN §9), after the warm-up: proportional set size of every role, Postgres and Kafka;
- the API's share (issue 18): with the consumers working through a backlog, the intake API's reports per second
  and p99 beside its own GET /health in the same moment (windows of each in turn, see _api_share).

Baseline in the same run (DESIGN §9): raw aiokafka produce → consume on the same broker, the same
volume at the same rate, latency from send to receipt.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench.common import ROOT, Figure, WrkResult, analyse, report_batches, wrk
from bench.light_http import LightClient
from deploy.demo.synthetic_city import main as write_city
from deploy.demo.synthetic_city import sample_points
from shared.messaging.kafka import make_producer
from shared.messaging.topics import ASSIGNMENTS, INCIDENTS, ensure_topics
from tests.e2e.stack import Stack, new_database_names
from tests.support import KAFKA_BOOTSTRAP, create_database, drop_database, published_records

BURST = 1_000  # messages of the raw Kafka baseline's burst
PACED = 3_000  # points kept apart for the paced run (no duplicates of the loaded ones)
WARM_UP = 20      # the first cases, slowly: the first makes routing load the 15,000-grid registry (seconds)
SETTLE = 1_000    # then a city's first thousand cases, before its tables are analysed (see _run)
LOADED = 40_000   # points of the full load (each posted once: the API takes up to ~2,000/s)
SHARE_POINTS = 60_000  # points of the API-share phase (its backlog and its report windows)
SHARE_BACKLOG = 10     # seconds of reports before the API-share windows, to leave the consumers busy
SHARE_WINDOW = 5       # seconds of each /health and report window
PACED_RATE = 100.0
BARE_INSERTS = 5_000  # rows of the bare asyncpg insert loop (the CPU-per-incident figure's baseline)
CONCURRENCY = 32
# Roles whose CPU is not the platform's: the SMS provider's stand-in (a real one runs at the provider) and the load
# generators. Reported beside the platform's total, not in it.
OUTSIDE = ("notifications sms-gateway", "bench client", "wrk")
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
    # Production's clock (deploy/k8s, compose): the e2e tests' virtual one has every role follow supervision's
    # GET /v1/clock twice a second, half the stack's idle CPU (85 ms/s with the real clock, 173 with the virtual).
    stack = Stack(workdir, databases, prefix, extra_env={"CLOCK_MODE": "real"})
    try:
        stack.up()
        points = await city_ready(stack, WARM_UP + SETTLE + PACED + LOADED + SHARE_POINTS)
        await asyncio.sleep(5)  # idle: the warm-up's work done, nothing arriving
        idle_memory = {role: round(mib, 1) for role, mib in sorted(_memory_mib_by_role(stack).items())
                       if role not in ("bench client", "wrk")}
        start = WARM_UP + SETTLE
        burst = await full_load(stack, points[start + PACED:start + PACED + LOADED], seconds)
        paced_run = await paced(stack, points[start:start + PACED], seconds)
        spans = await _stage_spans(stack)
        stages = _stage_percentiles(spans)
        paced_stages = {f"p{q}": _stage_percentiles(spans, q, set(paced_run.sent)) for q in (50, 99)}
        unnotified = await _unnotified(stack, set(_notices(stack)))
        share = await _api_share(stack, points[start + PACED + LOADED:])
    finally:
        stack.down()
        for name in names.values():
            await drop_database(name)
    base_rate, base_lags = await _raw_kafka(prefix, BURST, int(PACED_RATE * seconds))
    bare_insert_ms = await _bare_inserts()
    notes = {**burst.notes(), **paced_run.notes(), "stage_medians_ms": stages, "paced_stages_ms": paced_stages,
             "paced_rate": PACED_RATE, "seconds": seconds, "grids": 15_000,
             "accepted_without_sms_by_reason": unnotified}
    lags = paced_run.lags
    health = [w for w in share["windows"] if w["kind"] == "health"]
    reports = [w for w in share["windows"] if w["kind"] == "report"]
    health_rate = statistics.mean(w["per_second"] for w in health)
    services_mib = sum(mib for role, mib in idle_memory.items() if role not in ("postgres", "kafka"))
    memory_notes = {"pss_mib_by_role": idle_memory, "services_only_mib": round(services_mib, 1),
                    "grids_loaded": 15_000}
    return [Figure("stack.e2e", "idle stack memory (PSS: every role, Postgres, Kafka)",
                   sum(idle_memory.values()), "MiB", idle_memory.get("postgres", 0.0) + idle_memory.get("kafka", 0.0),
                   "Postgres + Kafka, their share of it", "≤ 2 GiB (2,048 MiB)", memory_notes),
            Figure("stack.e2e", "platform CPU per incident under full load (every role, Postgres, Kafka)",
                   burst.platform_ms(), "ms", bare_insert_ms,
                   "a bare asyncpg insert loop: CPU per row (client + backend), a commit each", "≤ 3.2 ms", notes),
            Figure("stack.e2e", "owners notified per second under full load (wrk)", burst.per_second, "incidents/s",
                   base_rate,
                   "raw aiokafka produce→consume", "≥ 600 incidents/s sustained", notes),
            Figure("stack.e2e", "intake reports accepted per second, the consumers busy",
                   statistics.mean(w["per_second"] for w in reports), "req/s", health_rate,
                   "its own /health in the same moment", "≥ 0.5× /health", share),
            Figure("stack.e2e", "intake report p99, the consumers busy", max(w["p99_ms"] for w in reports), "ms",
                   max(w["p99_ms"] for w in health), "its own /health in the same moment", "≤ 100 ms", share),
            Figure("stack.e2e", f"report→SMS p50 at {PACED_RATE:.0f}/s", _ms(lags, 50), "ms", _ms(base_lags, 50),
                   "raw aiokafka produce→consume", "", notes),
            Figure("stack.e2e", f"report→SMS p99 at {PACED_RATE:.0f}/s", _ms(lags, 99), "ms", _ms(base_lags, 99),
                   "raw aiokafka produce→consume", "p99 ≤ 1 s", notes)]


async def city_ready(stack: Stack, count: int, analyse_tables: bool = True) -> list[tuple[float, float]]:
    """The 15,000-grid city in routing, a desk per community, and the warm-up (WARM_UP + SETTLE reports, see
    warm_up) done; returns `count` points of the city, the warm-up's first (`analyse_tables`: see warm_up)."""
    grids = _load_city(stack)
    await _community_desks(stack, grids)
    points = sample_points(grids, count, seed=11)
    await warm_up(stack, points, analyse_tables)
    return points


def platform_total(cpu_ms_by_role: dict[str, float]) -> float:
    """The platform's milliseconds of CPU per incident: every role's but those OUTSIDE it."""
    return round(sum(ms for role, ms in cpu_ms_by_role.items() if role not in OUTSIDE), 1)


@dataclass
class FullLoad:
    """wrk posting reports for a while, then every new-case SMS that followed, and what it cost."""

    wrk: WrkResult
    notified: int
    per_second: float            # owners notified per second, from the load's start to the last SMS
    cpu_ms: dict[str, float]     # by role, per owner notified, until the platform fell quiet
    cpu_ms_to_last_sms: dict[str, float]
    quiet_cores: float
    database_work: dict[str, float]

    def platform_ms(self) -> float:
        return platform_total(self.cpu_ms)

    def notes(self) -> dict[str, Any]:
        return {"wrk_accepted_per_second": round(self.wrk.requests_per_second, 1), "wrk_requests": self.wrk.requests,
                "wrk_non_2xx": self.wrk.non_2xx, "notified_under_load": self.notified,
                "cpu_ms_per_incident_under_load": self.cpu_ms,
                "cpu_ms_per_incident_total": self.platform_ms(),
                # Until the last SMS only (how runs before 2026-12-06 evening counted): leaves out the work still
                # queued behind the SMS path (supervision's share of the burst, the relays' tail).
                "cpu_ms_per_incident_total_to_last_sms": platform_total(self.cpu_ms_to_last_sms),
                "cpu_ms_per_incident_to_last_sms": self.cpu_ms_to_last_sms,
                "idle_cores_once_quiet": self.quiet_cores,
                "cpu_ms_per_incident_outside_the_platform": {role: ms for role, ms in self.cpu_ms.items()
                                                             if role in OUTSIDE},
                "database_work_per_incident_under_load": self.database_work}


async def full_load(stack: Stack, points: list, seconds: int) -> FullLoad:
    """wrk posts a report per point (each once) from CONCURRENCY connections for `seconds`."""
    started = time.time()
    cpu_before = _cpu_seconds_by_role(stack)
    database_before = await _database_work(stack)
    load = await asyncio.to_thread(wrk, stack.url("intake"), _wrk_script(points), connections=CONCURRENCY,
                                   seconds=seconds, env={"BENCH_TOKEN": stack.admin_token})
    notified, last, cpu_at_last_sms = await _count_notified_since(stack, started)
    # The SMS path finishes first; supervision's clocks, the relays and autovacuum are still working through the
    # burst's events. All of it is the burst's cost, and none of it may fall into what is measured next.
    cpu_after, quiet_cores = await _cpu_once_quiet(stack)
    return FullLoad(wrk=load, notified=notified,
                    per_second=notified / (last - started) if notified else 0.0,
                    cpu_ms=_cpu_per_incident(cpu_before, cpu_after, notified),
                    cpu_ms_to_last_sms=_cpu_per_incident(cpu_before, cpu_at_last_sms, notified),
                    quiet_cores=quiet_cores,
                    database_work=_per_incident(database_before, await _database_work(stack), notified))


@dataclass
class Paced:
    """Reports posted at PACED_RATE, each one's time to its new-case SMS, and what it cost."""

    sent: dict[str, float]       # case ref → when it was posted
    lags: list[float]            # seconds from post to SMS, sorted
    cpu_ms: dict[str, float]     # by role, per owner notified, from quiet to the last SMS

    def platform_ms(self) -> float:
        return platform_total(self.cpu_ms)

    def latency_ms(self, percentile: int) -> float:
        return _ms(self.lags, percentile)

    def notes(self) -> dict[str, Any]:
        # A moderate load's cost per event, its idle polling included, without the saturated run's deep backlogs
        # and big transactions.
        return {"notified_paced": len(self.lags), "sent_paced": len(self.sent),
                "cpu_ms_per_incident_paced": self.cpu_ms, "cpu_ms_per_incident_paced_total": self.platform_ms()}


async def paced(stack: Stack, points: list, seconds: int) -> Paced:
    """PACED_RATE reports a second for `seconds` (the platform quiet before), until each has its SMS."""
    cpu_before = _cpu_seconds_by_role(stack)
    sent = await _post_all(stack, points[:int(PACED_RATE * seconds)], PACED_RATE)
    notified, cpu_at_last_sms = await _wait_notified(stack, sent)
    return Paced(sent=sent, lags=sorted(notified[ref] - sent[ref] for ref in notified),
                 cpu_ms=_cpu_per_incident(cpu_before, cpu_at_last_sms, len(notified)))


async def _api_share(stack: Stack, points: list) -> dict[str, Any]:
    """The intake API while the consumers are busy (issue 18: under load they starved it): reports posted for
    SHARE_BACKLOG seconds first (the API takes them faster than the pipeline carries them), then windows of GET
    /health and of reports, alternating, from the same wrk connections. Each window records its rate and
    percentiles and what the consumers did meanwhile (new-case SMS at the gateway per second, and the backlog at
    its end: accepted reports not yet notified), so a window measured after they ran dry shows as such."""
    env = {"BENCH_TOKEN": stack.admin_token}
    url = stack.url("intake")
    per_run = len(points) // 3  # each report run posts its own points: none is a duplicate of an earlier one
    scripts = [_wrk_script(points[n * per_run:(n + 1) * per_run]) for n in range(3)]
    never_notified = await _accepted(stack) - len(_notices(stack))  # so far: unroutable, no contact (see notes)
    await asyncio.to_thread(wrk, url, scripts[0], connections=CONCURRENCY, seconds=SHARE_BACKLOG, env=env)
    windows: list[dict[str, Any]] = []
    for kind, script in (("health", None), ("report", scripts[1]), ("health", None), ("report", scripts[2])):
        notified_before = len(_notices(stack))
        batches_before = await _report_batches(url)
        cpu_before, began = _cpu_seconds_by_role(stack, by_database=True), time.monotonic()
        wrk_before = _children_cpu_seconds()
        result = await asyncio.to_thread(wrk, url + "/health" if script is None else url, script,
                                         connections=CONCURRENCY, seconds=SHARE_WINDOW, env=env)
        # wrk has come and gone between the readings: its CPU is what this process's reaped children used.
        cpu_after = {**_cpu_seconds_by_role(stack, by_database=True),
                     "wrk": _children_cpu_seconds() - wrk_before}
        elapsed = time.monotonic() - began
        notified = len(_notices(stack))
        batches = [after - before for after, before in zip(await _report_batches(url), batches_before, strict=True)]
        windows.append({"kind": kind, "per_second": round(result.requests_per_second, 1),
                        "reports_per_commit": round(batches[0] / batches[1], 1) if batches[1] else None,
                        "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "non_2xx": result.non_2xx,
                        # Where the machine went meanwhile (Postgres by database: the intake API's backends are
                        # in "postgres intake" with intake's consumer's and relay's), and the API's CPU per request.
                        "cores_by_role": {role: round((cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0))
                                                      / elapsed, 3)
                                          for role in sorted(cpu_before.keys() | cpu_after.keys())},
                        "api_cpu_ms_per_request": round(1000 * (cpu_after.get("intake api", 0.0)
                                                                - cpu_before.get("intake api", 0.0))
                                                        / max(1, result.requests), 3),
                        "notified_per_second_meanwhile": round((notified - notified_before) / SHARE_WINDOW, 1),
                        "backlog_after": await _accepted(stack) - notified - never_notified})
    return {"connections": CONCURRENCY, "window_seconds": SHARE_WINDOW, "backlog_seconds": SHARE_BACKLOG,
            "consumers_busy_throughout": all(w["backlog_after"] > 0 and w["notified_per_second_meanwhile"] > 0
                                             for w in windows),
            "windows": windows}


async def _report_batches(url: str) -> tuple[float, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        return report_batches((await http.get(url + "/metrics")).text)


async def _accepted(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.databases["intake"])
    try:
        return await conn.fetchval("SELECT count(*) FROM incident WHERE duplicate_of IS NULL")
    finally:
        await conn.close()


async def _rows_by_key(stack: Stack, service: str, query: str) -> dict[str, asyncpg.Record]:
    """The query's rows in one service's database, by their first column."""
    conn = await asyncpg.connect(stack.databases[service])
    try:
        return {r[0]: r for r in await conn.fetch(query)}
    finally:
        await conn.close()


STAGES = ("intake relay", "kafka + routing consume", "routing relay", "kafka + notifications consume", "deliverer")


async def _stage_spans(stack: Stack) -> dict[str, dict[str, float]]:
    """Where each case's time went: case ref (the id's first 8 characters) → stage → ms. A relay deletes its outbox
    row once published, so the event's own stamps say it: its envelope's `time` (when its service wrote it, in the
    transaction that made it) and its Kafka record's timestamp (when the relay sent it); the delivery's row says
    when notifications wrote it and when the gateway had it."""
    received = await _published(stack, INCIDENTS, "intake.incident.received")
    assigned = await _published(stack, ASSIGNMENTS, "routing.incident.assigned")
    told = await _rows_by_key(stack, "notifications",
                              "SELECT incident_id::text, created_at, sent_at FROM delivery "
                              "WHERE event_type = 'routing.incident.assigned' AND channel = 'sms'")
    spans: dict[str, dict[str, float]] = {}
    for key, (r_created, r_sent) in received.items():
        if key not in assigned or key not in told or None in told[key]:
            continue
        a_created, a_sent = assigned[key]
        d_created, d_sent = told[key]["created_at"].timestamp(), told[key]["sent_at"].timestamp()
        spans[key[:8]] = {name: (end - start) * 1000 for name, (start, end) in zip(
            STAGES, ((r_created, r_sent), (r_sent, a_created), (a_created, a_sent), (a_sent, d_created),
                     (d_created, d_sent)), strict=True)}
    return spans


async def _published(stack: Stack, topic: str, event_type: str) -> dict[str, tuple[float, float]]:
    """Every event of `event_type` on the stack's `topic`, by key (its first one): (written, published), epoch
    seconds: its envelope's `time` and its record's timestamp (the producer's clock at the send, CreateTime)."""
    found: dict[str, tuple[float, float]] = {}
    for record in await published_records(stack.topic_prefix + topic):
        envelope = json.loads(record.value)
        if envelope["type"] == event_type and record.key is not None:
            found.setdefault(record.key.decode(), (datetime.fromisoformat(envelope["time"]).timestamp(),
                                                   record.timestamp / 1000))
    return found


def _stage_percentiles(spans: dict[str, dict[str, float]], quantile: int = 50,
                       only: set[str] | None = None) -> dict[str, float]:
    """Each stage's median (or another percentile) over every case of `spans`, or those whose ref is in `only`."""
    cases = [stages for ref, stages in spans.items() if only is None or ref in only]
    if not cases:
        return {}
    return {name: round(_percentile([stages[name] for stages in cases], quantile), 1) for name in STAGES}


def _percentile(values: list[float], quantile: int) -> float:
    return statistics.median(values) if quantile == 50 else statistics.quantiles(values, n=100)[quantile - 1]


async def _unnotified(stack: Stack, notified: set[str]) -> dict[str, int]:
    """Every accepted report without its new-case SMS at the gateway, counted by the reason the databases give."""
    cases = await _rows_by_key(stack, "intake",
                               "SELECT id::text, duplicate_of IS NOT NULL AS duplicate FROM incident")
    routed = await _rows_by_key(stack, "routing",
                                "SELECT DISTINCT ON (incident_id) incident_id::text, kind, unit_id, worker_id"
                                " FROM assignment ORDER BY incident_id, id DESC")
    owners = await _rows_by_key(stack, "notifications", "SELECT incident_id::text, worker_phone FROM case_owner")
    notices = await _rows_by_key(stack, "notifications",
                                 "SELECT DISTINCT ON (incident_id) incident_id::text, status"
                                 " FROM delivery WHERE channel = 'sms' AND event_type LIKE 'routing.%'"
                                 " ORDER BY incident_id, created_at DESC")
    reasons: dict[str, int] = {}
    for case_id, case in cases.items():
        if case_id[:8] in notified:
            continue
        if case["duplicate"]:
            reason = "linked as a duplicate (not routed, by design)"
        elif case_id not in routed:
            reason = "not routed"
        elif routed[case_id]["kind"] == "unroutable":
            reason = "in the centre's queue (unroutable)"
        elif case_id not in owners:
            reason = "assigned, notifications never heard of it"
        elif case_id not in notices:
            reason = f"owner {routed[case_id]['unit_id']} has no phone or desk contact"
        else:
            reason = f"new-case SMS {notices[case_id]['status']}"
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def _wrk_script(points: list) -> Path:
    """A wrk script posting urgent reports at points of the city, each point once (the duplicate rule links
    a report of the same category within 50 m of an open case to it instead of routing it)."""
    listed = ",".join(f"{{{lon:.6f},{lat:.6f}}}" for lon, lat in points)
    categories = ",".join(f'"{c}"' for c, _ in CATEGORIES)
    script = Path(tempfile.mkdtemp(prefix="stack-wrk-")) / "report.lua"
    script.write_text(f"""local points = {{{listed}}}
local categories = {{{categories}}}
local token = os.getenv("BENCH_TOKEN")
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  -- each thread walks its own half of the points: no point twice, so no report is a duplicate of another
  math.randomseed(id * 7919)
  next_point = (id - 1) * math.floor(#points / 2)
end
request = function()
  next_point = next_point % #points + 1
  local p = points[next_point]
  local body = string.format('{{"source":"gridworker","category":"%s","urgency":"urgent","title":"bench",' ..
    '"location":{{"lon":%.6f,"lat":%.6f}}}}', categories[math.random(#categories)], p[1], p[2])
  return wrk.format("POST", "/v1/incidents",
                    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}}, body)
end
""", encoding="utf-8")
    return script


_NOTICES_READ: dict[Path, tuple[int, dict[str, float]]] = {}  # the gateway's log: bytes read so far, what they held


def _notices(stack: Stack) -> dict[str, float]:
    """The new-case SMS the gateway recorded (its JSON-lines log: cheaper than asking it over HTTP while it
    works): case ref → when it arrived (the first, if one case had two). Only the lines added since the last call
    are read: the benchmark polls this every second while tens of thousands of SMS arrive, and reading the whole
    log each time made the client one of the busiest processes on the machine. Not to be changed by the caller."""
    log = stack.workdir / "sms.jsonl"
    offset, notices = _NOTICES_READ.get(log, (0, {}))
    if log.exists():
        with log.open("rb") as file:
            file.seek(offset)
            added = file.read()
        complete = added.rfind(b"\n") + 1  # a line the gateway is still writing is read next time
        for message in map(json.loads, added[:complete].decode("utf-8").splitlines()):
            text = message.get("text", "")
            if "新案件" in text:
                notices.setdefault(text.split("新案件", 1)[1][:8],
                                   datetime.fromisoformat(message["received_at"]).timestamp())
        offset += complete
    _NOTICES_READ[log] = (offset, notices)
    return notices


async def _count_notified_since(stack: Stack, since: float,
                                patience: float = 20.0) -> tuple[int, float, dict[str, float]]:
    """New-case SMS the gateway recorded after `since`, once no more come; when the last came; and the CPU
    seconds each role had used by then (so the quiet wait is not counted)."""
    count, last, quiet_since, cpu = -1, since, time.time(), _cpu_seconds_by_role(stack)
    while time.time() - quiet_since < patience:
        await asyncio.sleep(1.0)
        fresh = [t for t in _notices(stack).values() if t >= since]
        if len(fresh) != count:
            count, quiet_since, cpu = len(fresh), time.time(), _cpu_seconds_by_role(stack)
            last = max(fresh, default=since)
    return count, last, cpu


QUIET_CORES = 0.25   # the platform's CPU below this many cores, for QUIET_SECONDS in a row: nothing left to do
QUIET_SECONDS = 3


async def _cpu_once_quiet(stack: Stack, patience: float = 120.0) -> tuple[dict[str, float], float]:
    """The CPU seconds each role had used when the platform fell quiet (its roles, Postgres and Kafka together
    under QUIET_CORES for QUIET_SECONDS in a row: the work queued behind the SMS done), and the cores it used while
    quiet (its idle polling). After `patience` seconds without quiet, the last reading."""
    def platform(used: dict[str, float]) -> float:
        return sum(seconds for role, seconds in used.items() if role not in OUTSIDE)

    readings = [_cpu_seconds_by_role(stack)]
    began = time.time()
    while time.time() - began < patience:
        await asyncio.sleep(1.0)
        readings.append(_cpu_seconds_by_role(stack))
        recent = readings[-(QUIET_SECONDS + 1):]
        used = platform(recent[-1]) - platform(recent[0])
        if len(recent) == QUIET_SECONDS + 1 and used < QUIET_CORES * QUIET_SECONDS:
            return recent[0], round(used / QUIET_SECONDS, 3)
    return readings[-1], float("nan")


def _roles(stack: Stack, by_database: bool = False) -> list[tuple[str, str]]:
    """(pid, role) of the stack's processes: every service role of this stack, Postgres (its background
    processes and the backends of this stack's databases), Kafka, this client, and wrk. Other processes of the
    machine are left out, another stack's roles and other databases' backends too (a benchmark beside this one
    would count as this stack's work)."""
    ours = {dsn.rsplit("/", 1)[1]: service for service, dsn in stack.databases.items()}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environment = Path(f"/proc/{pid}/environ").read_bytes() if " -m services." in command else b""
        except OSError:
            continue
        if " -m services." in command:
            if any(f"/{database}".encode() in environment for database in ours):
                found.append((pid, command.split(" -m services.", 1)[1].strip()))
        elif name == "postgres":
            # A backend's title is "postgres: <cluster>: <user> <database> <client address> <state>", an
            # autovacuum worker's "... autovacuum worker <database>"; the other background processes
            # ("checkpointer", "walwriter", ...) name no database and serve every one.
            title = command.split()
            database = None
            if title[2:4] == ["autovacuum", "worker"] and len(title) > 4:
                database = title[4]
            elif len(title) > 4 and title[0] == "postgres:" and ("(" in title[4] or title[4] == "[local]"):
                database = title[3]
            if database is None or database in ours:
                found.append((pid, f"postgres {ours[database]}" if by_database and database else "postgres"))
        elif "kafka.Kafka" in command:
            found.append((pid, "kafka"))
        elif "-m bench" in command:
            found.append((pid, "bench client"))
        elif name == "wrk":
            found.append((pid, "wrk"))
    return found


async def warm_up(stack: Stack, points: list, analyse_tables: bool = True) -> None:
    """Bring a fresh stack to where a running city is, with points[:WARM_UP + SETTLE]: the first cases slowly (the
    first makes routing load the 15,000-grid registry into memory: seconds), then a thousand more, then its tables
    analysed. A brand-new database's first plans are made on empty tables and kept (a foreign key's check, a
    prepared statement's generic plan): until autovacuum first analyses them, every timeline entry's check read
    the whole case table (2.8 sequential scans per case). A running city is past that within its first minute."""
    await _wait_notified(stack, await _post_all(stack, points[:WARM_UP], rate=10.0))
    await _wait_notified(stack, await _post_all(stack, points[WARM_UP:WARM_UP + SETTLE], rate=200.0))
    if analyse_tables:  # (a database with statistics already, a copy of a city's history, needs none)
        await analyse(stack.databases.values())


async def _database_work(stack: Stack) -> dict[str, float]:
    """Counters of the work each service's database has done so far (pg_stat_database: commits, rows written,
    blocks touched (read or hit) and those read (not found in shared buffers); a backend reports them within ten
    seconds of going idle, and the load's are read after _count_notified_since's twenty quiet seconds) and the
    cluster's WAL position (every database's writes: the stack's and anyone else's on this Postgres)."""
    conn = await asyncpg.connect(stack.databases["intake"])
    try:
        rows = await conn.fetch(
            "SELECT datname, xact_commit, tup_inserted + tup_updated + tup_deleted AS rows_written,"
            " blks_hit + blks_read AS blocks, blks_read AS blocks_read FROM pg_stat_database"
            " WHERE datname = ANY($1::text[])",
            [stack.databases[service].rsplit("/", 1)[1] for service in stack.databases])
        wal = await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    finally:
        await conn.close()
    service_of = {stack.databases[service].rsplit("/", 1)[1]: service for service in stack.databases}
    work = {"wal_bytes": float(wal)}
    for row in rows:
        for counter in ("xact_commit", "rows_written", "blocks", "blocks_read"):
            work[f"{service_of[row['datname']]} {counter}"] = float(row[counter])
    return work


def _per_incident(before: dict[str, float], after: dict[str, float], incidents: int) -> dict[str, float]:
    return {key: round((after[key] - before.get(key, 0.0)) / max(1, incidents), 1) for key in sorted(after)}


def _cpu_per_incident(before: dict[str, float], after: dict[str, float], incidents: int) -> dict[str, float]:
    """Milliseconds of CPU per incident by role between two readings of `_cpu_seconds_by_role`."""
    return {role: round(1000 * (after.get(role, 0.0) - used) / max(1, incidents), 2)
            for role, used in sorted(before.items(), key=lambda kv: kv[0])}


def _cpu_seconds_by_role(stack: Stack, by_database: bool = False) -> dict[str, float]:
    """CPU seconds used so far (utime + stime), summed by role (`by_database`: Postgres's backends and autovacuum
    workers by the service whose database they serve)."""
    used: dict[str, float] = {}
    for pid, role in _roles(stack, by_database):
        try:
            used[role] = used.get(role, 0.0) + _cpu_seconds_of(pid)
        except OSError:
            continue
    return used


def _cpu_seconds_of(pid: int | str) -> float:
    """A process's CPU seconds so far (utime + stime, /proc/<pid>/stat); OSError once it is gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mib_by_role(stack: Stack) -> dict[str, float]:
    """Proportional set size (PSS) by role, in MiB: shared pages (Postgres's shared buffers, libraries) are
    split between the processes that map them, so the sum is what the stack really holds."""
    held: dict[str, float] = {}
    for pid, role in _roles(stack):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        pss_kib = next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
        held[role] = held.get(role, 0.0) + pss_kib / 1024
    return held


def _ms(values: list[float], p: int) -> float:
    return 1000 * values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def _load_city(stack: Stack) -> dict:
    city = ROOT / ".run" / "city-15000-7"
    if not (city / "directory.json").exists():
        write_city(city, grids=15_000, seed=7)
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


async def _post_all(stack: Stack, points: list, rate: float | None) -> dict[str, float]:
    """Post a report per point (all at once, or at `rate` per second); returns case ref → post time. Posted by a
    light client (bench/light_http.py): httpx cost up to half a core at 100/s, the platform's to lose."""
    rng = random.Random(len(points))
    sent: dict[str, float] = {}
    client = LightClient(stack.url("intake"), {"Authorization": f"Bearer {stack.admin_token}"}, CONCURRENCY)
    started = time.time()

    async def one(n: int, point: tuple[float, float]) -> None:
        if rate:
            await asyncio.sleep(max(0.0, started + n / rate - time.time()))
        category, title = rng.choice(CATEGORIES)
        body = {"source": "gridworker", "category": category, "urgency": "urgent", "title": title,
                "location": {"lon": point[0], "lat": point[1]}}
        at = time.time()
        # A retry after a dropped keep-alive connection is the same report, not a new one.
        status, answer = await client.post_json("/v1/incidents", body, {"Idempotency-Key": str(uuid.uuid4())})
        if status == 202:
            sent[json.loads(answer)["id"][:8]] = at

    try:
        await asyncio.gather(*(one(n, p) for n, p in enumerate(points)))
    finally:
        await client.close()
    return sent


async def _wait_notified(stack: Stack, sent: dict[str, float],
                         patience: float = 60.0) -> tuple[dict[str, float], dict[str, float]]:
    """Until every posted case has its new-case SMS, or nothing new came for `patience` seconds: the SMS by case,
    and the CPU seconds each role had used when the last came (a case that never gets one, a duplicate or
    an off-duty worker's without a desk, makes the wait last `patience` longer: that idle time is not its cost)."""
    notified: dict[str, float] = {}
    last_progress, cpu = time.time(), _cpu_seconds_by_role(stack)
    while len(notified) < len(sent) and time.time() - last_progress < patience:
        await asyncio.sleep(0.5)
        before = len(notified)
        notified = {ref: at for ref, at in _notices(stack).items() if ref in sent}
        if len(notified) > before:
            last_progress, cpu = time.time(), _cpu_seconds_by_role(stack)
    return notified, cpu


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def _bare_inserts(count: int = BARE_INSERTS) -> float:
    """The floor under a durable write on this machine, in the same run (issue 18): asyncpg inserting one small
    row per transaction (a uuid key, a jsonb payload) in a loop; milliseconds of CPU per row, the client's and its
    backend's (read from /proc: Postgres runs here)."""
    name = f"bench_bare_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(name)
    conn: asyncpg.Connection | None = None
    try:
        conn = await asyncpg.connect(dsn)
        pid = conn.get_server_pid()
        if not _is_postgres(pid):
            raise RuntimeError(f"process {pid} here is not the connection's backend: is Postgres on this machine?")
        await conn.execute("CREATE TABLE row_of_work (id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),"
                           " payload jsonb NOT NULL)")
        payload = json.dumps({"category": CATEGORIES[2][0], "title": CATEGORIES[2][1]}, ensure_ascii=False)
        client, server = time.process_time(), _cpu_seconds_of(pid)
        for _ in range(count):
            await conn.execute("INSERT INTO row_of_work (id, payload) VALUES ($1, $2::jsonb)", uuid.uuid4(), payload)
        client, server = time.process_time() - client, _cpu_seconds_of(pid) - server
    finally:
        if conn is not None:
            await conn.close()
        await drop_database(name)
    return round(1000 * (client + server) / count, 3)


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
