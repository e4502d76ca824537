"""Every role rides out Postgres and Kafka (issue 17, item 1), as real processes on private databases and topics.

The roles reach Postgres and Kafka through proxies in this test, so an outage touches only them (the shared
servers, and everyone else's tests, never notice):

- Postgres "restarts": the proxy stops accepting, the roles' backends are ended with `pg_terminate_backend` (the
  server's own 57P01 reaches them), the remaining links are cut ("connection was closed in the middle of
  operation"), connects are refused for a while, then answered as a recovering server answers them (57P03 "the
  database system is starting up", byte for byte), then it is back.
- Kafka is "down" at start: the bootstrap address is a closed port until the proxy opens (a running broker's
  outage cannot be made this way: after bootstrap the clients talk to the broker's advertised address).

What is shown: every role starts while both are away and comes up when they return; the case journey runs
through a restart (each role does its work afterwards, nothing doubled though every event is delivered again
during the outage); the APIs answer 503 problem+json with Retry-After meanwhile and `/ready` is false; each
outage is one log line when it starts and one when it ends, not one per attempt; the relay waits out a broker
that times out while it runs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaTimeoutError

from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.messaging import outbox
from shared.messaging.kafka import make_producer
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topics import ALL_TOPICS, ensure_topics, topic_for_event_type
from tests.e2e.stack import SERVICES, Stack, eventually, free_port, roles
from tests.support import (
    ADMIN_DSN,
    KAFKA_BOOTSTRAP,
    ROOT,
    SERVICE_DIRS,
    create_database,
    delete_topics,
    drop_database,
    published_records,
)

pytestmark = pytest.mark.integration

_ADMIN = urlsplit(ADMIN_DSN)
PG_ADDRESS = _ADMIN.netloc.rpartition("@")[2]  # as the DSNs spell it (a socket's directory percent-encoded)
PG_HOST, PG_PORT = unquote(_ADMIN.hostname or ""), _ADMIN.port or 5432  # a host, or a Unix socket's directory
KAFKA_HOST, KAFKA_PORT = KAFKA_BOOTSTRAP.split(",")[0].rsplit(":", 1)
WORKER_PHONE = "13900000001"  # 梅花社区第1网格's worker (deploy/demo/small-city-people.json)
IN_GRID_1 = {"lon": 120.612, "lat": 31.31}
# The roles that use a database: all but the local SMS gateway. And the ones that talk to Kafka.
DB_ROLES = [r for r in roles() if r[1] != "sms-gateway"]
KAFKA_ROLES = [r for r in roles() if r[1] in ("consume", "relay")]
APIS = [service for service, role in roles() if role == "api"]


# ---- a proxy that can be closed, and can answer as a Postgres in crash recovery ----------------------------------

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
STARTING_UP = b"".join((b"SFATAL\0", b"VFATAL\0", b"C57P03\0", b"Mthe database system is starting up\0", b"\0"))


class Proxy:
    """TCP to a target (a host and port, or a Unix socket's directory and Postgres's port), in one of three modes:
    "open" (forwards), "closed" (nothing listens: connection refused), "starting" (answers a Postgres startup as a
    recovering server does: FATAL 57P03)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.mode = "closed"
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set(self, mode: str) -> None:
        self.mode = mode
        if mode == "closed" and self.server is not None:
            self.server.close()
            self.server = None
        elif mode != "closed" and self.server is None:
            self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    def cut(self) -> None:
        """End every link now (both sides), as a server that goes away does."""
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    async def aclose(self) -> None:
        await self.set("closed")
        self.cut()
        for pipe in list(self.pipes):
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "starting":
            await self._answer_starting_up(reader, writer)
            return
        try:
            host, port = self.target
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        self.links.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, (writer, up_writer)))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for end in pair:
                self.links.discard(end)
                end.transport.abort()

    @staticmethod
    async def _answer_starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code in (SSL_REQUEST, GSSENC_REQUEST):  # no encryption here; then the real startup message
                writer.write(b"N")
                await writer.drain()
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                await reader.readexactly(length - 4)
            else:
                await reader.readexactly(length - 8)
            writer.write(b"E" + struct.pack("!i", len(STARTING_UP) + 4) + STARTING_UP)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


# ---- the stack, behind the proxies --------------------------------------------------------------------------------

class ProxiedStack(Stack):
    def __init__(self, workdir: Path, databases: dict[str, str], topic_prefix: str, postgres: Proxy,
                 kafka: Proxy) -> None:
        super().__init__(workdir, databases, topic_prefix)
        self.postgres = postgres
        self.kafka = kafka

    def env(self) -> dict[str, str]:
        env = super().env()
        for service in SERVICES:
            env[f"{service.upper()}_DATABASE_URL"] = self.databases[service].replace(
                f"@{PG_ADDRESS}/", f"@{self.postgres.address}/")
        env["KAFKA_BOOTSTRAP"] = self.kafka.address
        return env

    def lines(self, service: str, role: str) -> list[dict[str, Any]]:
        """The role's JSON log lines."""
        path = self.workdir / f"{service}-{role}.log"
        found = []
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def events(self, service: str, role: str, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines(service, role) if line.get("event") == event]

    def dead(self) -> list[tuple[str, str, int]]:
        return [(*key, process.returncode) for key, process in self.processes.items() if process.poll() is not None]

    async def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 12
        while any(p.poll() is None for p in self.processes.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        self.processes.clear()

    async def run_direct(self, service: str, *args: str) -> None:
        """A one-off command of a service on its database directly (not through the proxy)."""
        env = {**self.env(), f"{service.upper()}_DATABASE_URL": self.databases[service]}
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", f"services.{service}", *args,
                                                       cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode(errors="replace")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProxiedStack]:
    """Every role of processes.txt started while Postgres answers "starting up" and Kafka is a closed port."""
    run = uuid.uuid4().hex[:8]
    names = {service: f"t_ride_{run}_{service}" for service in SERVICES}
    prefix = f"t{run}ride."
    databases = {service: await create_database(name) for service, name in names.items()}
    postgres, kafka = Proxy(PG_HOST, PG_PORT), Proxy(KAFKA_HOST, int(KAFKA_PORT))
    stack = ProxiedStack(tmp_path_factory.mktemp("riding"), databases, prefix, postgres, kafka)
    try:
        for service in SERVICES:
            await migrate(databases[service], SERVICE_DIRS[service])
        await ensure_topics(KAFKA_BOOTSTRAP, prefix)
        await postgres.set("starting")
        for service, role in roles():
            stack.start(service, role)
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        await stack.stop_all()
        await postgres.aclose()
        await kafka.aclose()
        for name in names.values():
            await drop_database(name)
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])


@pytest.fixture
def riding(request: pytest.FixtureRequest, stack: ProxiedStack) -> Any:
    """The module's stack; its logs printed when the test fails."""
    yield stack
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(stack.logs())


def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


async def status_of(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return await http.get(url, **kwargs)
    except httpx.HTTPError:
        return None


def assert_unavailable(response: httpx.Response | None) -> None:
    """503 problem+json with Retry-After: never a 500, never a stack trace."""
    assert response is not None and response.status_code == 503, response and response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 503 and "Traceback" not in response.text


def stamp(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"]).timestamp()


# ---- at start: both away ------------------------------------------------------------------------------------------

async def test_every_role_starts_while_postgres_and_kafka_are_away_and_comes_up_when_they_return(
        riding: ProxiedStack) -> None:
    stack = riding
    async with httpx.AsyncClient(timeout=5) as http:
        # Postgres answers "the database system is starting up": every role waits, none exits.
        await until(lambda: stack.dead() + [r for r in DB_ROLES if not stack.events(*r, "postgres_unavailable")],
                    timeout=40)
        for role in DB_ROLES:
            [line] = stack.events(*role, "postgres_unavailable")  # one line, however many attempts
            assert line["error_type"] == "CannotConnectNowError", (role, line)
        for service in APIS:  # the APIs serve meanwhile: not ready, and 503 for the rest
            ready = await eventually(lambda s=service: status_of(http, stack.url(s) + "/ready"))
            assert ready.status_code == 503
        assert_unavailable(await status_of(http, stack.url("intake") + f"/v1/incidents/{uuid.uuid4()}",
                                           headers=bearer(stack)))

        await stack.postgres.set("open")
        # Postgres is back; Kafka is still a closed port: relays and consumers wait for the broker.
        await until(lambda: stack.dead() + [r for r in KAFKA_ROLES if not stack.events(*r, "kafka_unavailable")],
                    timeout=40)
        for role in KAFKA_ROLES:
            assert len(stack.events(*role, "kafka_unavailable")) == 1, role
        not_ready = await eventually(lambda: _json_if(status_of(http, stack.url("routing") + "/ready"), 503))
        assert not_ready["checks"]["kafka"].startswith("failed")

        opened = time.time()
        await stack.kafka.set("open")
        for service in APIS:
            await eventually(lambda s=service: _status_is(status_of(http, stack.url(s) + "/ready"), 200),
                             timeout=40)
        await until(lambda: [(*r, "kafka") for r in KAFKA_ROLES if not stack.events(*r, "kafka_recovered")]
                    + [(*r, "postgres") for r in DB_ROLES if not stack.events(*r, "postgres_recovered")], timeout=40)
        assert stack.dead() == []
        back = {f"{s}-{r}": round(stamp(stack.events(s, r, "kafka_recovered")[0]) - opened, 2)
                for s, r in KAFKA_ROLES}
        print(f"Kafka opened; seconds until each role had it: {back}")


# ---- while running: a Postgres restart in the middle of a case ----------------------------------------------------

async def test_the_journey_goes_on_through_a_postgres_restart_and_nothing_is_doubled(riding: ProxiedStack) -> None:
    stack = riding
    await stack.postgres.set("open")
    await stack.kafka.set("open")
    async with httpx.AsyncClient(timeout=5) as http:
        for service in APIS:
            await eventually(lambda s=service: _status_is(status_of(http, stack.url(s) + "/ready"), 200),
                             timeout=60)
        await stack.run_direct("routing", "load-city", str(ROOT / "deploy/demo/small-city.geojson"),
                               str(ROOT / "deploy/demo/small-city-people.json"))
        reported = await http.post(stack.url("intake") + "/v1/incidents", headers=bearer(stack), json={
            "source": "gridworker", "category": "dispute.neighbour", "urgency": "urgent", "title": "楼上漏水",
            "location": IN_GRID_1, "reporter": {"name": "王先生", "phone": "13812345678"}})
        assert reported.status_code == 202, reported.text
        incident = reported.json()["id"]
        await eventually(lambda: _clock(http, stack, incident))
        await eventually(lambda: _sms(http, stack, 1))  # the owner's new-case notice: every role has worked
        before = {role: len(stack.events(*role, "postgres_unavailable")) for role in DB_ROLES}

        # The restart: no new connections, the backends ended by the server, the links cut, connects refused.
        await stack.postgres.set("closed")
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                                [stack.databases[s].rpartition("/")[2] for s in SERVICES])
        finally:
            await admin.close()
        stack.postgres.cut()
        # Meanwhile: the APIs say 503 with Retry-After (never 500) and are not ready.
        for url in (f"{stack.url('intake')}/v1/incidents/{incident}", f"{stack.url('routing')}/v1/assignments/"
                    f"{incident}", f"{stack.url('supervision')}/v1/clocks/{incident}",
                    f"{stack.url('notifications')}/v1/deliveries?incident_id={incident}"):
            assert_unavailable(await http.get(url, headers=bearer(stack)))
        report_again = await http.post(stack.url("intake") + "/v1/incidents", headers=bearer(stack), json={
            "source": "gridworker", "category": "city.garbage", "title": "垃圾", "location": IN_GRID_1})
        assert_unavailable(report_again)
        for service in APIS:
            assert (await http.get(stack.url(service) + "/ready")).status_code == 503
        # ... and every event is delivered again, so the consumers meet the outage too (then their inboxes).
        await _publish_again(stack, ["intake", "routing"])
        await until(lambda: [role for role in DB_ROLES
                             if len(stack.events(*role, "postgres_unavailable")) == before[role]], timeout=20)
        await stack.postgres.set("starting")  # crash recovery: "the database system is starting up"
        await asyncio.sleep(1.0)              # the outage's length, not a synchronisation
        assert stack.dead() == []

        opened = time.time()
        await stack.postgres.set("open")
        for service in APIS:
            await eventually(lambda s=service: _status_is(status_of(http, stack.url(s) + "/ready"), 200),
                             timeout=20)
        ready_after = time.time() - opened
        await until(lambda: [role for role in DB_ROLES
                             if len(stack.events(*role, "postgres_recovered")) == before[role]], timeout=20)
        recovered = {f"{s}-{r}": round(stamp(stack.events(s, r, "postgres_recovered")[-1]) - opened, 2)
                     for s, r in DB_ROLES}
        print(f"Postgres back; all APIs ready after {ready_after:.2f} s; each role's first success: {recovered}")
        assert max(recovered.values()) < 10
        for role in DB_ROLES:  # one line at the start of the outage and one at its end, not one per attempt
            assert len(stack.events(*role, "postgres_unavailable")) == before[role] + 1, role

        # Every role does its work afterwards: the clock moves, the ticker fires yellow, its relay publishes,
        # notifications consume it and the deliverer sends the SMS.
        advanced = await http.post(stack.url("supervision") + "/v1/clock/advance", headers=bearer(stack),
                                   json={"seconds": 1.5 * 3600})
        assert advanced.status_code == 200, advanced.text
        texts = await eventually(lambda: _sms(http, stack, 2), timeout=30)
        assert "黄灯" in texts[1]["text"]
        assert stack.dead() == []

    intake = await asyncpg.connect(stack.databases["intake"])
    routing = await asyncpg.connect(stack.databases["routing"])
    notifications = await asyncpg.connect(stack.databases["notifications"])
    try:  # the events delivered twice changed nothing twice
        assert await routing.fetchval("SELECT count(*) FROM assignment") == 1
        assert await intake.fetchval("SELECT count(*) FROM timeline_entry WHERE action = 'assigned'") == 1
        assert await intake.fetchval("SELECT count(*) FROM incident") == 1
        assert await notifications.fetchval("SELECT count(*) FROM delivery WHERE channel = 'sms'") == 2
    finally:
        for conn in (intake, routing, notifications):
            await conn.close()


async def _publish_again(stack: ProxiedStack, services: list[str]) -> None:
    """Every event these services published, onto the (real) broker once more: read back from their topics (a
    relay deletes its outbox rows once published)."""
    producer = make_producer(KAFKA_BOOTSTRAP)
    await producer.start()
    try:
        for service in services:
            topic = stack.topic_prefix + topic_for_event_type(f"{service}.x.y")
            published = await published_records(topic)
            assert published, service
            for record in published:
                await producer.send_and_wait(topic, record.value, key=record.key)
    finally:
        await producer.stop()


async def _all(condition: bool) -> bool:
    return condition


async def until(missing: Callable[[], list[Any]], timeout: float) -> None:
    """Poll until `missing()` is empty; fail naming what is still missing."""
    deadline = time.monotonic() + timeout
    while (left := missing()) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not left, f"still missing after {timeout} s: {left}"


async def _status_is(response: Any, status: int) -> bool:
    got = await response
    return got is not None and got.status_code == status


async def _json_if(response: Any, status: int) -> dict[str, Any] | None:
    got = await response
    return got.json() if got is not None and got.status_code == status else None


async def _clock(http: httpx.AsyncClient, stack: Stack, incident: str) -> dict[str, Any] | None:
    response = await http.get(f"{stack.url('supervision')}/v1/clocks/{incident}", headers=bearer(stack))
    return response.json() if response.status_code == 200 else None


async def _sms(http: httpx.AsyncClient, stack: Stack, count: int) -> list[dict[str, Any]] | None:
    messages = (await http.get(stack.url("sms") + "/sms", params={"phone": WORKER_PHONE})).json()
    return messages if len(messages) >= count else None


# ---- a broker that times out while the relay runs -----------------------------------------------------------------

class FlakyProducer:
    """Stands in for a producer whose broker is away: the first sends time out as aiokafka's do."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        if self.failures > 0:
            self.failures -= 1
            raise KafkaTimeoutError("Failed to update metadata after 15.0 secs.")
        self.sent.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_the_relay_waits_out_a_broker_that_times_out_and_publishes_once_it_answers(fresh_database) -> None:
    from structlog.testing import capture_logs

    from shared.events.envelope import Envelope
    from shared.events.routing import IncidentUnroutable

    dsn = await fresh_database("ride_relay")
    await migrate(dsn, SERVICE_DIRS["routing"])
    pool = await create_pool(dsn, 1, 4)
    event = IncidentUnroutable(incident_id=uuid.uuid4(), reason="no grid", at=datetime.now().astimezone(),
                               category="city.garbage", urgency="normal")
    envelope = Envelope.wrap(event, source="/routing", time=event.at)
    async with pool.acquire() as conn:
        await outbox.write(conn, [envelope])
    producer = FlakyProducer(failures=4)
    relay = OutboxRelay(pool, producer, service=f"ride-{uuid.uuid4().hex[:6]}", poll_seconds=0.05)  # type: ignore[arg-type]
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(relay.run(stop))
        try:
            await eventually(lambda: _all(relay.published == 1), timeout=20)
            assert not running.done()
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
            await pool.close()
    assert [topic for topic, _ in producer.sent] == ["routing.assignments.v1"]
    events = [line["event"] for line in logs if line["event"].startswith("kafka")]
    assert events == ["kafka_unavailable", "kafka_recovered"]

