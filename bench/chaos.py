"""Chaos soak (issue 17, item 4): `python -m bench chaos` (`make chaos`), and a short one in tests/e2e.

Every role of the four services runs as its own process (the e2e tests' Stack, deploy/local/processes.txt) on
PRIVATE infrastructure started by the project's own scripts: a Postgres cluster of its own (deploy/local/postgres.sh
with PG_CLUSTER/PG_PORT) and a Kafka broker of its own (deploy/local/kafka.sh with KAFKA_DIR/KAFKA_PORT). The shared
Postgres (:5432, 15/main) and broker (:9092, .run/kafka) are never touched: the soak kills and restarts its own.

While N incidents are reported (each with its own Idempotency-Key, retried with the same key and body and a capped,
jittered backoff through every fault; one in ten sent again after its answer, as a client that lost it would), the
faults come one after the other, in a random order fixed by the seed:

- `kill -9` of a service role (every role: APIs, consumers, relays, ticker, deliverer, resumer, fetcher and the local
  SMS gateway), started again at once, as supervisord does;
- `kill -9` of the broker, started again with kafka.sh;
- an immediate Postgres restart (`pg_ctlcluster 15 <cluster> restart -m immediate`: crash recovery).

Recovery of each fault, from the moment of the fault:
- back: the faulted thing answers again (an API's /ready, the gateway's /health, a worker's start line in its log:
  a consumer's once the group gave it partitions, which waits for the killed member's session to time out; the
  broker answering a metadata request, Postgres taking a connection);
- report→SMS: a canary case reported right after the fault (an emergency, so nothing waits for a bundle) is accepted,
  routed and its owner's new-case SMS sent;
- light→SMS: the canary's clock running, the virtual clock moved 25 min (supervision's /v1/clock/advance) and the
  yellow light's SMS sent: ticker, relays, every consumer and the deliverer had to work;
- roles resumed (broker and Postgres): the last role that logged `<dependency>_unavailable` logging
  `<dependency>_recovered`, counted from the dependency answering the soak again (0 when every role was back
  first; issue 17: each within 10 s).

A role that exits without being killed is started again (as supervisord would) and counted: roles must ride out
their dependencies. When traffic and faults are done the virtual clock moves 5 h (every clock climbs to the top of
its ladder), the stack drains, and the invariants are checked straight from the four databases and the gateway's
log: every accepted report stored once, routed once, one clock per routed case, each light/督办 step once per due
version (and applied once by notifications), each (event, recipient) delivered once, outboxes drained, no dead
letters. A table of faults and one of invariants are printed, JSON goes to bench/results/chaos-*.json, and the exit
status is 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import RESULTS, ROOT, _commit
from deploy.demo.synthetic_city import sample_points
from services.notifications.domain.delivery import bundle_key
from shared.messaging.topics import ALL_TOPICS, ensure_topics
from shared.resilience import close_quietly
from tests import throwaway
from tests.e2e.stack import SERVICES, Stack, roles
from tests.support import delete_topics

T = TypeVar("T")
LOCAL = ROOT / "deploy" / "local"
PG_VERSION = "15"
CITY = ROOT / "deploy" / "demo" / "small-city.geojson"
PEOPLE = ROOT / "deploy" / "demo" / "small-city-people.json"
# Categories the grid's worker owns by rule (routing_rule): every case has a phone to tell.
CATEGORIES = (("dispute.neighbour", "楼上漏水邻里纠纷"), ("city.ads", "电线杆乱张贴小广告"),
              ("service.errand", "老人申请代办社保认证"))
LIGHT_STEPS = ("yellow", "red")
LEVEL_STEPS = ("reminder", "yellow_card", "red_card", "leader")
STEP_EVENT = {**{s: "supervision.light.changed" for s in LIGHT_STEPS},
              **{s: "supervision.escalation.raised" for s in LEVEL_STEPS}}
# What a restarted worker logs once it is at work again.
STARTED = {"consume": "consumer_started", "relay": "relay_leading", "ticker": "ticker_started",
           "deliver": "deliverer_started", "resumer": "resumer_started", "fetcher": "fetcher_started"}
CANARY_ADVANCE_SECONDS = 25 * 60   # an emergency's sign clock is yellow at 21 min (70 % of 30)
FINAL_ADVANCE_SECONDS = 5 * 3600   # every sign clock reaches 领导督办 (due + 2 h; urgent: due at 2 h)
# Settings of every role: each report a case of its own (duplicate linking has its own tests); SMS retries on the
# default backoff, so a gateway restart is ridden out rather than burnt through (the e2e Stack makes it 0.2 s).
STACK_ENV = {"INTAKE_DUPLICATE_RADIUS_M": "0", "INTAKE_DUPLICATE_WINDOW_HOURS": "0",
             "NOTIFICATIONS_DELIVERY_BACKOFF_SECONDS": "1"}


# ---- the private infrastructure ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrivateInfra:
    """A Postgres cluster and a Kafka broker of the soak's own, run by deploy/local's scripts."""

    pg_cluster: str
    pg_port: int
    kafka_port: int
    kafka_controller_port: int
    kafka_dir: Path

    def __post_init__(self) -> None:
        shared = []
        if self.pg_cluster == "main" or self.pg_port == 5432:
            shared.append(f"Postgres {PG_VERSION}/{self.pg_cluster} on :{self.pg_port}")
        if {self.kafka_port, self.kafka_controller_port} & {9092, 9093}:
            shared.append(f"Kafka on :{self.kafka_port}/:{self.kafka_controller_port}")
        if self.kafka_dir.resolve() == (ROOT / ".run" / "kafka").resolve():
            shared.append(f"the broker directory {self.kafka_dir}")
        if shared:
            raise ValueError(f"the chaos soak kills what it runs on; refusing the shared {', '.join(shared)}")

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://grid_admin:grid_admin@127.0.0.1:{self.pg_port}/postgres"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def script_env(self) -> dict[str, str]:
        return {**os.environ, "PG_CLUSTER": self.pg_cluster, "PG_PORT": str(self.pg_port),
                "KAFKA_PORT": str(self.kafka_port), "KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
                "KAFKA_DIR": str(self.kafka_dir)}

    async def sh(self, *command: str) -> str:
        process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=self.script_env(),
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{text}")
        return text

    async def start(self) -> None:
        """Both at once (creating the cluster, its roles and databases, the broker's storage on first use)."""
        await asyncio.gather(self.sh(str(LOCAL / "postgres.sh"), "start"), self.start_broker())

    async def stop(self) -> None:
        """Stop both (their data stays for the next run); each is tried even if the other fails."""
        results = await asyncio.gather(self.sh(str(LOCAL / "kafka.sh"), "stop"),
                                       self.sh(str(LOCAL / "postgres.sh"), "stop"), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError(f"stopping the private infrastructure: {failed}")

    async def start_broker(self, attempts: int = 3) -> None:
        """kafka.sh start, tried again after a failed start (as a supervisor would)."""
        for attempt in range(1, attempts + 1):
            try:
                await self.sh(str(LOCAL / "kafka.sh"), "start")
                return
            except RuntimeError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(1.0)

    async def kill_broker(self) -> None:
        """SIGKILL the broker's JVM and wait until it is gone: every thread (a killed JVM's main thread is a zombie
        while the others still exit) and its listening port (kafka.sh start would take a port still open for
        another broker)."""
        pid = int((self.kafka_dir / "kafka.pid").read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await until(lambda: self._broker_gone(pid), time.monotonic() + 30, interval=0.05)

    async def _broker_gone(self, pid: int) -> bool:
        if not await _gone(pid):
            return False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.kafka_port), 1)
        except OSError:
            return True
        writer.close()
        return False

    async def restart_postgres_immediately(self) -> None:
        await self.sh("pg_ctlcluster", PG_VERSION, self.pg_cluster, "restart", "-m", "immediate")

    async def broker_answers(self) -> bool:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a refused connect is the expected answer here
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), 3)
            return bool(await asyncio.wait_for(admin.list_topics(), 3))
        finally:
            await close_quietly(admin.close)

    async def postgres_answers(self) -> bool:
        conn = await asyncpg.connect(self.admin_dsn, timeout=2)
        try:
            return await conn.fetchval("SELECT true") is True
        finally:
            await conn.close()


async def _gone(pid: int) -> bool:
    """No thread of the process is left running (a reaped process, or a zombie whose threads all exited)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for task in tasks:
        try:
            status = _read_from(Path(f"/proc/{pid}/task/{task}/status"), 0, missing=None)
        except FileNotFoundError:
            continue
        if "\nState:\tZ" not in status and "\nState:\tX" not in status:
            return False
    return True


# Ports below Linux's ephemeral range (32768-60999): a port inside it may be, at the moment the private Postgres or
# broker starts, the local end of any outgoing connection on the machine (a suite run failed so: "could not bind
# IPv4 address 127.0.0.1: Address already in use" on 55442, nothing listening there).
COMMAND_INFRA = PrivateInfra("chaos", 25432, 29092, 29093, ROOT / ".run" / "chaos" / "kafka")
TEST_INFRA = PrivateInfra("chaostest", 25442, 29192, 29193, ROOT / ".run" / "chaos-test" / "kafka")


@asynccontextmanager
async def private_infra(infra: PrivateInfra, keep: bool = False) -> AsyncIterator[PrivateInfra]:
    """The private Postgres and broker up for the block, stopped afterwards (also when the block fails)."""
    try:
        await infra.start()
        yield infra
    finally:
        if not keep:
            await infra.stop()


# ---- small helpers ----------------------------------------------------------------------------------------------

class GaveUp(RuntimeError):
    """What a poll raises when waiting longer is of no use (the start it waits for failed)."""


async def until(probe: Callable[[], Awaitable[T | None]], deadline: float, interval: float = 0.2) -> T | None:
    """Poll `probe` until it gives something truthy (its exceptions count as "not yet") or the monotonic `deadline`
    passes (None then)."""
    while True:
        try:
            value = await probe()
        except GaveUp:
            raise
        except Exception:  # the database, broker or API away: the very thing being waited for
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


class Databases:
    """The four services' databases; a connection per call, so a Postgres restart costs a probe, not the soak."""

    def __init__(self, dsns: dict[str, str]) -> None:
        self.dsns = dsns

    async def fetch(self, service: str, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsns[service], timeout=5)
        try:
            return await conn.fetch(sql, *args, timeout=60)
        finally:
            await conn.close()

    async def fetchval(self, service: str, sql: str, *args: object) -> Any:
        rows = await self.fetch(service, sql, *args)
        return rows[0][0] if rows else None


# ---- traffic ----------------------------------------------------------------------------------------------------

@dataclass
class Report:
    key: str
    body: dict[str, Any]
    ids: set[str] = field(default_factory=set)   # every id intake answered for this key (one, or it is a bug)
    attempts: int = 0
    refused: str = ""                             # a 4xx that is no reason to retry
    resent: bool = False                          # sent again after its answer


class Reporter:
    """Reports incidents as a client on a bad network would: each with its own Idempotency-Key, the same key and
    body again after an error or a 5xx (capped, jittered backoff) until intake answers 202."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, rng: random.Random) -> None:
        self.stack = stack
        self.http = http
        self.rng = rng
        self.reports: dict[str, Report] = {}
        self.answers: Counter[str] = Counter()

    async def report(self, key: str, body: dict[str, Any], give_up_at: float) -> Report:
        report = self.reports.setdefault(key, Report(key, body))
        ceiling = 0.2
        while time.monotonic() < give_up_at:
            report.attempts += 1
            wait = 0.0
            try:
                response = await self.http.post(
                    self.stack.url("intake") + "/v1/incidents", json=body, timeout=10,
                    headers={"Authorization": f"Bearer {self.stack.admin_token}", "Idempotency-Key": key})
            except httpx.HTTPError as exc:
                self.answers[type(exc).__name__] += 1
            else:
                self.answers[str(response.status_code)] += 1
                if response.status_code == 202:
                    report.ids.add(response.json()["id"])
                    return report
                if response.status_code < 500 and response.status_code not in (408, 429):
                    report.refused = f"{response.status_code} {response.text[:300]}"
                    return report
                retry_after = response.headers.get("Retry-After", "")
                wait = float(retry_after) if retry_after.isdigit() else 0.0
            await asyncio.sleep(max(wait, self.rng.uniform(ceiling / 2, ceiling)))
            ceiling = min(5.0, ceiling * 2)
        return report

    async def resend(self, key: str, give_up_at: float) -> None:
        """The same report again after its answer (a client that lost it): the answer must name the same case."""
        report = self.reports[key]
        report.resent = True
        before = set(report.ids)
        report.ids.clear()
        await self.report(key, report.body, give_up_at)
        report.ids |= before


# ---- faults -----------------------------------------------------------------------------------------------------

@dataclass
class Fault:
    n: int
    kind: str                      # role | broker | postgres
    target: str                    # e.g. routing-consume, kafka, postgres
    at: float = 0.0                # seconds into the soak
    under_traffic: bool = False
    back_s: float | None = None
    notice_s: float | None = None  # canary: report → new-case SMS sent
    light_s: float | None = None   # canary: its yellow light's SMS sent (clock moved 25 min once it ran)
    resumed_s: float | None = None  # broker/Postgres: last role's `<dep>_recovered`, after the dependency was back
    roles_resumed: int = 0
    note: str = ""

    @property
    def recovered(self) -> bool:
        return None not in (self.back_s, self.notice_s, self.light_s) and not self.note


def split_role(target: str) -> tuple[str, str]:
    service, _, role = target.partition("-")
    return service, role


def plan_faults(all_roles: list[tuple[str, str]], count: int, seed: int, broker_kills: int,
                postgres_restarts: int) -> list[Fault]:
    """`count` faults: the broker and Postgres ones, the rest `kill -9` of roles. The roles go one of each kind
    (api, consume, relay, ...; which service's, at random) first, then every other role, then at random again, so
    a few faults cover every kind and enough cover every role. The infrastructure faults land at random places."""
    rng = random.Random(seed)
    kills = max(0, count - broker_kills - postgres_restarts)
    by_kind: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for service, role in all_roles:
        by_kind[role].append((service, role))
    first = [rng.choice(group) for group in by_kind.values()]
    rng.shuffle(first)
    rest = [r for r in all_roles if r not in first]
    rng.shuffle(rest)
    order = first + rest
    while len(order) < kills:
        order += rng.sample(all_roles, len(all_roles))
    plan = [("role", f"{service}-{role}") for service, role in order[:kills]]
    for kind, target, times in (("broker", "kafka", broker_kills), ("postgres", "postgres", postgres_restarts)):
        for _ in range(times):
            plan.insert(rng.randint(1 if plan else 0, len(plan)), (kind, target))
    return [Fault(n, kind, target) for n, (kind, target) in enumerate(plan, 1)]


# ---- the soak ---------------------------------------------------------------------------------------------------

@dataclass
class SoakConfig:
    incidents: int = 3000
    faults: int = 30
    seed: int = 17
    rate: float = 15.0                  # reports per second
    broker_kills: int | None = None     # default: one per 15 faults, at least one
    postgres_restarts: int | None = None
    fault_deadline: float = 120.0       # seconds a fault may take to recover before it is called unrecovered
    drain_deadline: float = 300.0
    resend_share: float = 0.1           # reports sent again after their answer

    def infra_faults(self) -> tuple[int, int]:
        default = max(1, self.faults // 15) if self.faults >= 3 else 0
        broker = default if self.broker_kills is None else self.broker_kills
        postgres = default if self.postgres_restarts is None else self.postgres_restarts
        return broker, postgres


@dataclass
class Check:
    name: str
    ok: bool
    counts: dict[str, int]
    examples: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    run_id: str
    config: SoakConfig
    faults: list[Fault]
    checks: list[Check]
    exits: list[dict[str, Any]]
    traffic: dict[str, Any]
    seconds: dict[str, float]
    workdir: str
    databases: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class Soak:
    def __init__(self, infra: PrivateInfra, config: SoakConfig, workdir: Path,
                 say: Callable[[str], None] = print) -> None:
        self.infra = infra
        self.config = config
        self.workdir = workdir
        self.say = say
        self.rng = random.Random(config.seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.exits: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.traffic_done = False

    # -- the whole run --

    async def run(self) -> SoakResult:
        names = {service: f"chaos_{self.run_id}_{service}" for service in SERVICES}
        dsns: dict[str, str] = {}
        ok = False
        try:
            for service, name in names.items():
                dsns[service] = await throwaway.create_database(name, self.infra.admin_dsn)
            prefix = f"chaos{self.run_id}."
            await self._drop_stale_topics()
            await ensure_topics(self.infra.bootstrap, prefix)
            self.stack = Stack(self.workdir, dsns, prefix, replicas=1, kafka_bootstrap=self.infra.bootstrap,
                               extra_env=STACK_ENV)
            self.db = Databases(dsns)
            try:
                result = await self._run_stack(dsns)
            except BaseException:
                self.say(self.stack.logs())
                raise
            finally:
                self.stack.down()
                with contextlib.suppress(Exception):  # the broker keeps its data: leave it no topics to recover
                    await asyncio.wait_for(delete_topics(self.infra.bootstrap, [prefix + t for t in ALL_TOPICS]), 30)
            ok = result.ok
            return result
        finally:
            if ok:
                for name in names.values():
                    await throwaway.drop_database(name, self.infra.admin_dsn)
            elif dsns:
                self.say(f"kept for a look: databases {', '.join(names.values())} on :{self.infra.pg_port} "
                         f"(cluster {PG_VERSION}/{self.infra.pg_cluster}); logs in {self.workdir}")

    async def _drop_stale_topics(self) -> None:
        """Topics an interrupted soak left on the private broker (every restart of the broker would recover them)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.infra.bootstrap)
        await admin.start()
        try:
            stale = [t for t in await admin.list_topics() if t.startswith("chaos")]
            if stale:
                await admin.delete_topics(stale)
        finally:
            await admin.close()

    async def _run_stack(self, dsns: dict[str, str]) -> SoakResult:
        timings: dict[str, float] = {}
        t = time.monotonic()
        self.say(f"chaos {self.run_id}: starting every role on :{self.infra.pg_port} and :{self.infra.kafka_port}")
        await asyncio.to_thread(self.stack.up)
        await asyncio.to_thread(self.stack.run, "routing", "load-city", str(CITY), str(PEOPLE))
        timings["stack start"] = time.monotonic() - t
        city = json.loads(CITY.read_text(encoding="utf-8"))
        faults = plan_faults(roles(), self.config.faults, self.config.seed, *self.config.infra_faults())
        points = _distinct(sample_points(city, 2 * (self.config.incidents + len(faults)) + 50, self.config.seed))
        if len(points) < self.config.incidents + len(faults):
            raise RuntimeError("not enough distinct points in the city for the soak")
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=10, limits=limits) as http:
            self.http = http
            self.reporter = Reporter(self.stack, http, random.Random(self.config.seed + 1))
            await self._contacts(city)
            stop = asyncio.Event()
            watchdog = asyncio.create_task(self._watchdog(stop))
            try:
                self.started = time.monotonic()
                traffic = asyncio.create_task(self._traffic(points[:self.config.incidents]))
                await self._faults(faults, points[self.config.incidents:])
                timings["faults"] = time.monotonic() - self.started
                await traffic
                timings["traffic"] = self.traffic_seconds
                t = time.monotonic()
                settled = await self._drain("after the traffic")
                await self._advance(FINAL_ADVANCE_SECONDS, time.monotonic() + self.config.fault_deadline)
                settled = await self._drain("after the final clock move") and settled
                timings["drain"] = time.monotonic() - t
            finally:
                stop.set()
                await watchdog
            self.say("checking the invariants")
            checks = await self._checks(faults)
            if not settled:
                checks.append(Check("the stack settled (outboxes, routing, clocks, deliveries)", False,
                                    {"seconds waited": int(self.config.drain_deadline)}))
        answers = dict(self.reporter.answers)
        attempts = sum(r.attempts for r in self.reporter.reports.values())
        traffic_stats = {"reports": len(self.reporter.reports), "requests": attempts,
                         "answers": dict(sorted(answers.items())), "rate": self.config.rate,
                         "virtual_hours_advanced": round(self.advanced / 3600, 2)}
        return SoakResult(self.run_id, self.config, faults, checks, self.exits, traffic_stats,
                          {k: round(v, 1) for k, v in timings.items()}, str(self.workdir),
                          {s: d.rpartition("/")[2] for s, d in dsns.items()})

    # -- set-up --

    async def _contacts(self, city: dict[str, Any]) -> None:
        """Who answers for each unit at each 督办 level (the contacts directory): a head per grid, a supervisor and a
        liaison (the desk of a grid whose worker is off duty) per community, a leader for the district; so each
        escalation goes to one to three people."""
        for n, feature in enumerate(city["features"]):
            props = feature["properties"]
            person = {"name": f"联系人{n}", "phone": f"137{n:08d}"}
            body: dict[str, Any] = {"name": props["name"]}
            if props["level"] == "grid":
                body["leader"] = person
            elif props["level"] == "community":
                body |= {"supervisor": person, "liaison": {"name": f"联络员{n}", "phone": f"136{n:08d}"}}
            elif props["level"] == "street":
                body["supervisor"] = person
            else:
                body["leader"] = person
            response = await self.http.put(f"{self.stack.url('notifications')}/v1/contacts/{props['code']}",
                                           json=body, headers=self._auth())
            response.raise_for_status()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.admin_token}"}

    def _body(self, point: tuple[float, float], urgency: str, n: int) -> dict[str, Any]:
        category, title = CATEGORIES[n % len(CATEGORIES)]
        return {"source": "gridworker", "category": category, "urgency": urgency, "title": f"{title}（{n}）",
                "location": {"lon": point[0], "lat": point[1]}}

    # -- traffic --

    async def _traffic(self, points: list[tuple[float, float]]) -> None:
        rng = random.Random(self.config.seed + 2)
        plan = [("emergency" if rng.random() < 0.2 else "urgent", rng.random() < self.config.resend_share)
                for _ in points]
        gate = asyncio.Semaphore(48)
        give_up_at = self.started + len(points) / self.config.rate + 20 * self.config.fault_deadline

        async def one(n: int, point: tuple[float, float]) -> None:
            await asyncio.sleep(max(0.0, self.started + n / self.config.rate - time.monotonic()))
            key = f"chaos-{self.run_id}-{n}"
            urgency, resend = plan[n]
            async with gate:
                report = await self.reporter.report(key, self._body(point, urgency, n), give_up_at)
            if resend and report.ids:
                async with gate:
                    await self.reporter.resend(key, give_up_at)

        try:
            await asyncio.gather(*(one(n, p) for n, p in enumerate(points)))
        finally:
            self.traffic_done = True
            self.traffic_seconds = time.monotonic() - self.started

    # -- faults --

    async def _faults(self, faults: list[Fault], canary_points: list[tuple[float, float]]) -> None:
        spacing = self.config.incidents / self.config.rate / (len(faults) + 1)
        for fault, point in zip(faults, canary_points, strict=False):
            await asyncio.sleep(max(0.0, self.started + fault.n * spacing - time.monotonic()))
            await self._one_fault(fault, point)
            self.say(f"fault {fault.n:>2}/{len(faults)} {fault.kind:<8} {fault.target:<26} back {_s(fault.back_s)}"
                     f"  report→SMS {_s(fault.notice_s)}  light→SMS {_s(fault.light_s)}"
                     + (f"  roles resumed {_s(fault.resumed_s)}" if fault.kind != "role" else "")
                     + (f"  {fault.note}" if fault.note else ""))

    async def _one_fault(self, fault: Fault, point: tuple[float, float]) -> None:
        deadline_s = self.config.fault_deadline
        fault.under_traffic = not self.traffic_done
        offsets = {key: _size(self.stack.log_path(*key)) for key in self.stack.processes}
        t0 = time.monotonic()
        fault.at = round(t0 - self.started, 1)
        wall0 = time.time()
        deadline = t0 + deadline_s
        if fault.kind == "role":
            service, role = split_role(fault.target)
            offset = _size(self.stack.log_path(service, role))
            self.stack.kill(service, role)     # SIGKILL, reaped
            self.stack.start(service, role)    # at once, as supervisord restarts a role that had been up
            back: Awaitable[float | None] = _when(until(lambda: self._role_back(service, role, offset), deadline,
                                                        0.05))
        elif fault.kind == "broker":
            await self.infra.kill_broker()
            back = self._broker_back(deadline)
        else:
            back = self._postgres_back(deadline)
        canary = asyncio.create_task(self._canary(fault, point, t0, deadline))
        try:
            when = await asyncio.wait_for(back, deadline_s)
            if when is not None:
                fault.back_s = round(when - t0, 2)
        except (TimeoutError, RuntimeError) as exc:
            fault.note = f"not back: {str(exc)[:200]}"
        if fault.back_s is None and fault.kind == "broker":
            # Left down, the rest of the soak would measure nothing: start it again, as a supervisor would.
            with contextlib.suppress(RuntimeError):
                await self.infra.start_broker()
        back_wall = wall0 + (fault.back_s or 0.0)
        await canary
        if fault.kind != "role" and fault.back_s is not None:
            dependency = "kafka" if fault.kind == "broker" else "postgres"
            await self._roles_resumed(fault, dependency, offsets, back_wall, deadline)

    async def _broker_back(self, deadline: float) -> float | None:
        """kafka.sh start (it returns once the broker answers, polling from a fresh process at a time); the broker
        counts as back when it first answers a metadata request from here."""
        restart = asyncio.create_task(self.infra.start_broker())

        async def answers() -> bool:
            if restart.done() and restart.exception() is not None:
                raise GaveUp(str(restart.exception()))  # kafka.sh gave up: no use waiting
            return await self.infra.broker_answers()

        try:
            answered = await _when(until(answers, deadline, 0.1))
            await restart
            return answered
        finally:
            if not restart.done():
                restart.cancel()
            await asyncio.gather(restart, return_exceptions=True)

    async def _postgres_back(self, deadline: float) -> float | None:
        await self.infra.restart_postgres_immediately()
        return await _when(until(self.infra.postgres_answers, deadline, 0.05))

    async def _role_back(self, service: str, role: str, offset: int) -> bool:
        if role == "api":
            return (await self.http.get(self.stack.url(service) + "/ready", timeout=2)).status_code == 200
        if role == "sms-gateway":
            return (await self.http.get(self.stack.url("sms") + "/health", timeout=2)).status_code == 200
        return f'"{STARTED[role]}"' in _read_from(self.stack.log_path(service, role), offset)

    async def _canary(self, fault: Fault, point: tuple[float, float], t0: float, deadline: float) -> None:
        """A case reported right after the fault, followed to its new-case SMS, then to its yellow light's SMS."""
        report = await self.reporter.report(f"chaos-{self.run_id}-canary-{fault.n}",
                                            self._body(point, "emergency", fault.n), deadline)
        if not report.ids:
            fault.note = fault.note or f"canary not accepted: {report.refused or 'no 202 before the deadline'}"
            return
        incident = next(iter(report.ids))
        if not await until(lambda: self._sms_sent(incident, "routing.incident.assigned"), deadline):
            fault.note = fault.note or "canary's new-case SMS not sent"
            return
        fault.notice_s = round(time.monotonic() - t0, 2)
        if not await until(lambda: self.db.fetchval("supervision", "SELECT true FROM phase_clock "
                                                    "WHERE incident_id = $1::uuid", incident), deadline):
            fault.note = fault.note or "canary's clock not started"
            return
        if not await self._advance(CANARY_ADVANCE_SECONDS, deadline):
            fault.note = fault.note or "the virtual clock could not be moved"
            return
        if not await until(lambda: self._sms_sent(incident, "supervision.light.changed"), deadline):
            fault.note = fault.note or "canary's light SMS not sent"
            return
        fault.light_s = round(time.monotonic() - t0, 2)

    async def _sms_sent(self, incident: str, event_type: str) -> bool:
        return bool(await self.db.fetchval(
            "notifications", "SELECT true FROM delivery WHERE incident_id = $1::uuid AND event_type = $2 "
            "AND channel = 'sms' AND status = 'sent' LIMIT 1", incident, event_type))

    advanced = 0.0

    async def _advance(self, seconds: float, deadline: float) -> bool:
        async def once() -> bool:
            response = await self.http.post(self.stack.url("supervision") + "/v1/clock/advance",
                                            json={"seconds": seconds}, headers=self._auth(), timeout=10)
            return response.status_code == 200

        moved = bool(await until(once, deadline, 0.3))
        if moved:
            self.advanced += seconds
        return moved

    async def _roles_resumed(self, fault: Fault, dependency: str, offsets: dict[tuple[str, str], int],
                             back_wall: float, deadline: float) -> None:
        """Every role that logged `<dependency>_unavailable` since the fault logs `<dependency>_recovered`; the last
        of them, counted from the dependency answering again."""

        async def all_resumed() -> dict[str, float] | None:
            resumed: dict[str, float] = {}
            for key, offset in offsets.items():
                down, up = _outage_in_log(_read_from(self.stack.log_path(*key), offset), dependency)
                if down and up is None:
                    return None
                if down and up is not None:
                    resumed["-".join(key)] = up
            return resumed or {"": back_wall}

        resumed = await until(all_resumed, deadline, 0.25)
        if resumed is None:
            fault.note = fault.note or f"a role did not log {dependency}_recovered"
            return
        fault.roles_resumed = len([k for k in resumed if k])
        fault.resumed_s = round(max(0.0, max(resumed.values()) - back_wall), 2)

    # -- roles that exit by themselves --

    async def _watchdog(self, stop: asyncio.Event) -> None:
        """A role that exits without being killed is started again, as supervisord would, and counted."""
        while not stop.is_set():
            for key, process in list(self.stack.processes.items()):
                code = process.poll()
                if code is None:
                    continue
                tail = _read_from(self.stack.log_path(*key), max(0, _size(self.stack.log_path(*key)) - 1500))
                self.exits.append({"role": "-".join(key), "code": code,
                                   "at": round(time.monotonic() - self.started, 1), "log": tail})
                self.say(f"!! {'-'.join(key)} exited by itself (code {code}); started again")
                del self.stack.processes[key]
                self.stack.start(*key)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass

    # -- drain --

    async def _pending(self) -> dict[str, int]:
        """What is still on its way; all zero once the stack has settled."""
        db = self.db
        out = {
            "intake outbox": await db.fetchval("intake", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
            "routing outbox": await db.fetchval("routing", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
            "supervision outbox": await db.fetchval(
                "supervision", "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL)"
                               " + (SELECT count(*) FROM clock_alert WHERE sent_at IS NULL)"),
            "notifications outbox": await db.fetchval("notifications",
                                                      "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
            "deliveries pending": await db.fetchval("notifications",
                                                    "SELECT count(*) FROM delivery WHERE status = 'pending'"),
            "thresholds due": await db.fetchval("supervision", DUE_UNFIRED),
        }
        cases = await db.fetchval("intake", "SELECT count(*) FROM incident WHERE duplicate_of IS NULL")
        told = await db.fetchval("intake", "SELECT count(DISTINCT incident_id) FROM timeline_entry "
                                           "WHERE action = 'assigned'")
        routed = await db.fetchval("routing", "SELECT count(DISTINCT incident_id) FROM assignment")
        clocked = await db.fetchval("supervision", "SELECT count(DISTINCT incident_id) FROM phase_clock")
        owners = await db.fetchval("notifications", "SELECT count(*) FROM case_owner")
        steps = await db.fetchval("supervision", "SELECT coalesce(sum(cardinality(steps)), 0) FROM clock_alert")
        alerts = await db.fetchval("notifications", "SELECT count(*) FROM alert WHERE event_type IN "
                                                    "('supervision.light.changed', 'supervision.escalation.raised')")
        out |= {"not routed": cases - routed, "intake not told": routed - told, "no clock": routed - clocked,
                "notifications not told": routed - owners, "steps not applied": steps - alerts}
        return {k: int(v) for k, v in out.items()}

    async def _drain(self, when: str) -> bool:
        deadline = time.monotonic() + self.config.drain_deadline
        last: dict[str, int] = {}
        quiet = 0
        while time.monotonic() < deadline:
            try:
                pending = await self._pending()
            except Exception:
                pending = {"database": 1}
            quiet = quiet + 1 if pending == last and not any(pending.values()) else 0
            if quiet >= 2:
                return True
            last = pending
            await asyncio.sleep(0.5)
        self.say(f"not settled {when}: {last}")
        return False

    # -- the invariants --

    async def _checks(self, faults: list[Fault]) -> list[Check]:
        db = self.db
        incidents = await db.fetch("intake", """
            SELECT i.id::text AS id, i.duplicate_of IS NOT NULL AS duplicate,
                   coalesce((SELECT array_agg(k.key) FROM idempotency_key k WHERE k.incident_id = i.id), '{}') AS keys
            FROM incident i""")
        assigned_entries = {r["id"]: r["n"] for r in await db.fetch(
            "intake", "SELECT incident_id::text AS id, count(*) AS n FROM timeline_entry WHERE action = 'assigned' "
                      "GROUP BY 1")}
        assignments = {r["id"]: list(r["kinds"]) for r in await db.fetch(
            "routing", "SELECT incident_id::text AS id, array_agg(kind ORDER BY id) AS kinds FROM assignment "
                       "GROUP BY 1")}
        clocks = await db.fetch("supervision", "SELECT id, incident_id::text AS incident, due_version, light, level "
                                               "FROM phase_clock")
        steps = await db.fetch("supervision", "SELECT a.clock_id, a.due_version, s.step FROM clock_alert a, "
                                              "unnest(a.steps) AS s(step)")
        due_unfired = await db.fetchval("supervision", DUE_UNFIRED)
        alerts = await db.fetch("notifications", """
            SELECT incident_id::text AS incident, event_type, coalesce(payload->>'light', payload->>'level') AS step
            FROM alert WHERE event_type IN ('supervision.light.changed', 'supervision.escalation.raised')""")
        deliveries = await db.fetch("notifications", """
            SELECT id::text AS id, event_id::text AS event_id, event_type, incident_id::text AS incident, channel,
                   recipient, address, status, bundle_id::text AS bundle_id, coalesce(summary, body) AS summary
            FROM delivery""")
        unsent = {s: await db.fetchval(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") for s in SERVICES}
        unsent["supervision clock_alert"] = await db.fetchval(
            "supervision", "SELECT count(*) FROM clock_alert WHERE sent_at IS NULL")
        dead = {s: await db.fetchval(s, "SELECT count(*) FROM dead_letter") for s in SERVICES}
        gateway = _gateway_sms(self.stack.workdir / "sms.jsonl")
        return [
            _stored_once(self.reporter.reports, incidents),
            _routed_once(incidents, assignments, assigned_entries),
            _one_clock(assignments, clocks),
            _steps_once(clocks, steps, int(due_unfired)),
            _steps_applied_once(clocks, steps, alerts),
            _delivered_once(deliveries, gateway, assignments, clocks, steps),
            Check("outboxes drained", not any(unsent.values()), {f"unsent: {k}": int(v) for k, v in unsent.items()}),
            Check("no dead letters", not any(dead.values()), {f"dead letters: {k}": int(v) for k, v in dead.items()}),
            Check("no role exited by itself", not self.exits, {"exits": len(self.exits)},
                  [f"{e['role']} (code {e['code']}) at {e['at']} s: …{e['log'][-300:]}" for e in self.exits[:5]]),
            Check("every fault recovered", all(f.recovered for f in faults),
                  {"faults": len(faults), "recovered": sum(f.recovered for f in faults)},
                  [f"#{f.n} {f.target}: {f.note or 'not measured'}" for f in faults if not f.recovered][:5]),
        ]


# Running clocks with a threshold at or before supervision's virtual now that the ticker has not fired.
DUE_UNFIRED = """
    SELECT count(*) FROM phase_clock, virtual_clock v
    WHERE next_check_at IS NOT NULL
      AND next_check_at <= v.virtual_anchor + make_interval(secs => (extract(epoch FROM clock_timestamp())
                                                                      - v.real_anchor) * v.speed)"""


def _expected_steps(light: str, level: str) -> set[str]:
    """The steps a fresh clock took to reach its light and level (the ladder climbs one rung at a time)."""
    lights = LIGHT_STEPS[:("green", *LIGHT_STEPS).index(light)]
    levels = LEVEL_STEPS[:("none", *LEVEL_STEPS).index(level)]
    return {*lights, *levels}


def _stored_once(reports: dict[str, Report], incidents: list[asyncpg.Record]) -> Check:
    stored_by_key: dict[str, list[str]] = defaultdict(list)
    for row in incidents:
        for key in row["keys"]:
            stored_by_key[key].append(row["id"])
    accepted = {key: r for key, r in reports.items() if r.ids}
    never = [key for key, r in reports.items() if not r.ids]
    disagreeing = [key for key, r in accepted.items() if len(r.ids) > 1]
    missing = [key for key, r in accepted.items() if not r.ids & set(stored_by_key.get(key, []))]
    twice = [key for key, ids in stored_by_key.items() if len(ids) > 1]
    without_key = [row["id"] for row in incidents if not row["keys"]]
    unknown = [key for key in stored_by_key if key not in reports]
    examples = ([f"never accepted: {k} ({reports[k].refused or 'no 202'})" for k in never[:3]]
                + [f"answers disagree for {k}: {sorted(reports[k].ids)}" for k in disagreeing[:3]]
                + [f"accepted, not stored: {k}" for k in missing[:3]] + [f"stored twice: {k}" for k in twice[:3]]
                + [f"stored without a key: {i}" for i in without_key[:3]])
    return Check("every accepted report stored once",
                 not (never or disagreeing or missing or twice or without_key or unknown)
                 and len(incidents) == len(accepted),
                 {"reports": len(reports), "accepted": len(accepted), "stored": len(incidents),
                  "resent after the answer": sum(r.resent for r in reports.values()),
                  "never accepted": len(never), "answers disagreeing": len(disagreeing),
                  "accepted, not stored": len(missing), "stored twice": len(twice),
                  "stored without a key": len(without_key)}, examples)


def _routed_once(incidents: list[asyncpg.Record], assignments: dict[str, list[str]],
                 assigned_entries: dict[str, int]) -> Check:
    cases = {row["id"] for row in incidents if not row["duplicate"]}
    not_routed = sorted(cases - set(assignments))
    twice = sorted(i for i, kinds in assignments.items() if len(kinds) > 1)
    not_assigned = sorted(i for i, kinds in assignments.items() if kinds and kinds[0] != "assigned")
    unknown = sorted(set(assignments) - {row["id"] for row in incidents})
    timeline = sorted(i for i in cases if assigned_entries.get(i, 0) != 1)
    return Check("every case routed once", not (not_routed or twice or unknown or timeline or not_assigned),
                 {"cases": len(cases), "routed": len(set(assignments) & cases), "not routed": len(not_routed),
                  "routed more than once": len(twice), "unroutable": len(not_assigned),
                  "routed, unknown to intake": len(unknown), "intake's 'assigned' entries ≠ 1": len(timeline)},
                 [f"not routed: {i}" for i in not_routed[:3]] + [f"routed {assignments[i]}: {i}" for i in twice[:3]]
                 + [f"'assigned' entries {assigned_entries.get(i, 0)}: {i}" for i in timeline[:3]])


def _one_clock(assignments: dict[str, list[str]], clocks: list[asyncpg.Record]) -> Check:
    per_case = Counter(row["incident"] for row in clocks)
    missing = sorted(i for i in assignments if per_case[i] == 0)
    many = sorted(i for i, n in per_case.items() if n > 1)
    unknown = sorted(set(per_case) - set(assignments))
    return Check("one clock per routed case", not (missing or many or unknown),
                 {"routed cases": len(assignments), "clocks": len(clocks), "without a clock": len(missing),
                  "with more than one": len(many), "clocks of unknown cases": len(unknown)},
                 [f"no clock: {i}" for i in missing[:3]] + [f"{per_case[i]} clocks: {i}" for i in many[:3]])


def _steps_once(clocks: list[asyncpg.Record], steps: list[asyncpg.Record], due_unfired: int) -> Check:
    taken = Counter((row["clock_id"], row["due_version"], row["step"]) for row in steps)
    doubled = [(k, n) for k, n in taken.items() if n > 1]
    missing, extra = [], []
    by_clock: dict[tuple[int, int], set[str]] = defaultdict(set)
    for clock_id, version, step in taken:
        by_clock[(clock_id, version)].add(step)
    for clock in clocks:
        have = by_clock.get((clock["id"], clock["due_version"]), set())
        want = _expected_steps(clock["light"], clock["level"])
        if want - have:
            missing.append(f"clock {clock['id']} at {clock['light']}/{clock['level']} lacks {sorted(want - have)}")
        if have - want:
            extra.append(f"clock {clock['id']} at {clock['light']}/{clock['level']} took {sorted(have - want)}")
    by_step = Counter(row["step"] for row in steps)
    return Check("each light/督办 step once per due version", not (doubled or missing or extra or due_unfired),
                 {"steps": len(steps), **{f"steps: {s}": by_step[s] for s in (*LIGHT_STEPS, *LEVEL_STEPS)},
                  "taken twice": len(doubled), "clocks missing a step": len(missing),
                  "clocks beyond their state": len(extra), "due, not fired": due_unfired},
                 [f"clock {k[0]} v{k[1]} {k[2]} ×{n}" for k, n in doubled[:3]] + missing[:3] + extra[:3])


def _steps_applied_once(clocks: list[asyncpg.Record], steps: list[asyncpg.Record],
                        alerts: list[asyncpg.Record]) -> Check:
    incident_of = {row["id"]: row["incident"] for row in clocks}
    fired = Counter((incident_of.get(row["clock_id"], "?"), STEP_EVENT[row["step"]], row["step"]) for row in steps)
    applied = Counter((row["incident"], row["event_type"], row["step"]) for row in alerts)
    lost, doubled = fired - applied, applied - fired
    return Check("each step applied once by notifications (its alert)", not (lost or doubled),
                 {"steps fired": sum(fired.values()), "alerts": sum(applied.values()),
                  "lost": sum(lost.values()), "doubled": sum(doubled.values())},
                 [f"lost {k}" for k in list(lost)[:3]] + [f"doubled {k}" for k in list(doubled)[:3]])


def _gateway_sms(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if r.get("kind", "sms") == "sms"]


BUNDLE_ITEMS = re.compile(r"条提醒：(.*)。请及时")


def _items_of(text: str) -> list[str]:
    """The summaries a bundled SMS lists (a cut-off last one left out); a single SMS: its text."""
    found = BUNDLE_ITEMS.search(text)
    if not found:
        return [text]
    return [re.sub(r"^\d+\.", "", item) for item in found.group(1).split("；") if not item.endswith(("…", "..."))]


def _delivered_once(deliveries: list[asyncpg.Record], gateway: list[dict[str, Any]],
                    assignments: dict[str, list[str]], clocks: list[asyncpg.Record],
                    steps: list[asyncpg.Record]) -> Check:
    """Each (event, recipient) reached the gateway once: every SMS the gateway recorded is one the database says was
    sent (by its idempotency key: the delivery's id, or a bundle's key from its members), each sent SMS is in the
    gateway's log once, and no (event, recipient) is in two messages."""
    sms = [d for d in deliveries if d["channel"] == "sms"]
    rows_twice = Counter((d["event_id"], d["recipient"], d["channel"]) for d in deliveries)
    status = Counter(d["status"] for d in deliveries)
    members: dict[str, list[asyncpg.Record]] = {}
    bundles: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for d in sms:
        if d["status"] != "sent":
            continue
        if d["bundle_id"]:
            bundles[d["bundle_id"]].append(d)
        else:
            members[d["id"]] = [d]
    for group in bundles.values():
        members[bundle_key(d["id"] for d in group)] = group
    keys = Counter(r["idempotency_key"] for r in gateway)
    lost = sorted(k for k in members if k not in keys)
    orphans = [r for r in gateway if r["idempotency_key"] not in members]
    by_summary = {(d["address"], d["summary"]): d for d in sms}
    reached: Counter[tuple[str, str]] = Counter()
    for record in gateway:
        carried = members.get(record["idempotency_key"])
        if carried is None:  # not a message the database knows: whose events did it carry?
            carried = [d for item in _items_of(record["text"]) if (d := by_summary.get((record["phone"], item)))]
        for d in carried:
            reached[(d["event_id"], d["recipient"])] += 1
    twice = [k for k, n in reached.items() if n > 1]
    # Each routed case's people told of it (owner; an emergency's 协办 too), each once even if the assignment had
    # been announced twice; and one SMS per light its clocks took (to the day-to-day contact).
    notices = Counter((d["incident"], d["recipient"]) for d in sms if d["event_type"] == "routing.incident.assigned")
    told = {incident for incident, _ in notices}
    untold = [i for i in assignments if i not in told] + [f"{i} → {r}" for (i, r), n in notices.items() if n > 1]
    incident_of = {row["id"]: row["incident"] for row in clocks}
    lights = Counter(incident_of.get(row["clock_id"]) for row in steps if row["step"] in LIGHT_STEPS)
    light_sms = Counter(d["incident"] for d in sms if d["event_type"] == "supervision.light.changed")
    light_mismatch = [i for i in set(lights) | set(light_sms) if lights[i] != light_sms[i]]
    not_sent = sum(n for s, n in status.items() if s != "sent")
    return Check("each (event, recipient) delivered once",
                 not (lost or orphans or twice or not_sent or untold or light_mismatch)
                 and all(n == 1 for n in rows_twice.values()) and all(n == 1 for n in keys.values()),
                 {"deliveries": len(deliveries), "SMS sent": sum(1 for d in sms if d["status"] == "sent"),
                  "gateway messages": len(gateway), "bundled messages": len(bundles),
                  **{f"deliveries {s}": n for s, n in sorted(status.items()) if s != "sent"},
                  "delivery rows twice": sum(1 for n in rows_twice.values() if n > 1),
                  "gateway key twice": sum(1 for n in keys.values() if n > 1),
                  "sent, not at the gateway": len(lost), "at the gateway, not sent": len(orphans),
                  "(event, recipient) reached twice": len(twice),
                  "cases not told, or told twice": len(untold),
                  "cases with light SMS ≠ lights": len(light_mismatch)},
                 [f"at the gateway, not sent: {r['phone']} {r['text'][:80]}" for r in orphans[:3]]
                 + [f"reached twice: event {e} → {rcp}" for e, rcp in twice[:3]]
                 + [f"sent, not at the gateway: {k}" for k in lost[:3]]
                 + [f"not told once: {i}" for i in untold[:3]])


def _distinct(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    return list(dict.fromkeys(points))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int, missing: str | None = "") -> str:
    """The file from `offset` on; `missing` if it is not there (None: raise FileNotFoundError)."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        if missing is None:
            raise FileNotFoundError(path) from None
        return missing


def _outage_in_log(text: str, dependency: str) -> tuple[bool, float | None]:
    """Whether the log logged `<dependency>_unavailable`, and when (unix time) that first outage ended (its
    `_recovered`): later blips (a group coordinator reloading after a broker restart) are outages of their own."""
    down = False
    for line in text.splitlines():
        if dependency not in line or not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == f"{dependency}_unavailable":
            down = True
        elif entry.get("event") == f"{dependency}_recovered" and down:
            return True, datetime.fromisoformat(entry["timestamp"]).timestamp()
    return down, None


async def _when(poll: Awaitable[object | None]) -> float | None:
    """The monotonic time a poll succeeded (None: it never did)."""
    return time.monotonic() if await poll else None


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


# ---- the report -------------------------------------------------------------------------------------------------

def summary_rows(faults: list[Fault]) -> list[tuple[str, int, str, str, str, str]]:
    """Per kind of fault: count, and the median / worst of each recovery figure."""
    rows = []
    for kind in ("role", "broker", "postgres"):
        group = [f for f in faults if f.kind == kind]
        if not group:
            continue

        def stat(values: list[float | None]) -> str:
            known = sorted(v for v in values if v is not None)
            if not known:
                return "—"
            return f"{known[len(known) // 2]:.1f} / {known[-1]:.1f}"

        rows.append((kind, len(group), stat([f.back_s for f in group]), stat([f.notice_s for f in group]),
                     stat([f.light_s for f in group]), stat([f.resumed_s for f in group])))
    return rows


def print_report(result: SoakResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    cfg = result.config
    table = Table(title=f"chaos soak {result.run_id}: {cfg.incidents} incidents, {len(result.faults)} faults "
                        f"(seed {cfg.seed}); recovery times from the fault")
    for column in ("#", "at", "fault", "target", "back", "report→SMS", "light→SMS", "roles resumed", "note"):
        table.add_column(column, justify="right" if column in ("#", "at", "back", "report→SMS", "light→SMS",
                                                               "roles resumed") else "left")
    for f in result.faults:
        resumed = "" if f.kind == "role" else f"{_s(f.resumed_s)} ({f.roles_resumed})"
        table.add_row(str(f.n), f"{f.at:.0f} s" + ("" if f.under_traffic else "*"),
                      {"role": "kill -9", "broker": "kill -9 broker", "postgres": "pg restart -m immediate"}[f.kind],
                      f.target, _s(f.back_s), _s(f.notice_s), _s(f.light_s), resumed, f.note)
    console.print(table)
    summary = Table(title="recovery by kind of fault: median / worst (s)")
    for column in ("fault", "count", "back", "report→SMS", "light→SMS", "roles resumed after back"):
        summary.add_column(column, justify="left" if column == "fault" else "right")
    for row in summary_rows(result.faults):
        summary.add_row(row[0], str(row[1]), *row[2:])
    console.print(summary)
    checks = Table(title="invariants (straight from the four databases and the SMS gateway's log)")
    for column in ("invariant", "result", "counts"):
        checks.add_column(column)
    for check in result.checks:
        counts = ", ".join(f"{k} {v:,}" for k, v in check.counts.items())
        checks.add_row(check.name, "[green]PASS[/]" if check.ok else "[bold red]FAIL[/]",
                       counts + "".join(f"\n  {e}" for e in check.examples))
    console.print(checks)
    t = result.traffic
    console.print(f"traffic: {t['reports']:,} reports in {t['requests']:,} requests at {t['rate']}/s; answers "
                  f"{t['answers']}; virtual clock moved {t['virtual_hours_advanced']} h; seconds {result.seconds}; "
                  f"'*' = after the traffic ended; logs: {result.workdir}")


def save(result: SoakResult) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"chaos-{stamp}.json"
    meta = {"when": stamp, "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
            "commit": _commit()}
    body = {"meta": meta, "ok": result.ok, **asdict(result)}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False, default=str))
    (RESULTS / "chaos-latest.json").write_text(path.read_text())
    return path


async def soak(infra: PrivateInfra, config: SoakConfig, workdir: Path, keep_infra: bool = False,
               say: Callable[[str], None] = print) -> SoakResult:
    """The private infrastructure up, the soak, the infrastructure stopped again (also on failure)."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    async with private_infra(infra, keep=keep_infra):
        return await Soak(infra, config, workdir, say).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench chaos", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--incidents", type=int, default=3000, help="incidents reported during the soak")
    parser.add_argument("--faults", type=int, default=30, help="faults in all (broker and Postgres ones included)")
    parser.add_argument("--seed", type=int, default=17, help="the order of faults, traffic and points")
    parser.add_argument("--rate", type=float, default=15.0, help="reports per second")
    parser.add_argument("--broker-kills", type=int, default=None, help="default: one per 15 faults, at least one")
    parser.add_argument("--postgres-restarts", type=int, default=None, help="default: one per 15 faults, at least one")
    parser.add_argument("--fault-deadline", type=float, default=120.0, help="seconds a fault may take to recover")
    parser.add_argument("--keep-infra", action="store_true", help="leave the private Postgres and broker running")
    args = parser.parse_args(argv)
    config = SoakConfig(incidents=args.incidents, faults=args.faults, seed=args.seed, rate=args.rate,
                        broker_kills=args.broker_kills, postgres_restarts=args.postgres_restarts,
                        fault_deadline=args.fault_deadline)
    workdir = ROOT / ".run" / "chaos" / datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ")
    result = asyncio.run(soak(COMMAND_INFRA, config, workdir, keep_infra=args.keep_infra))
    print_report(result)
    print(f"\nresults: {save(result).relative_to(ROOT)}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
