"""Every service role as a real process, on private databases, topics and ports, for one test module.

The roles come from deploy/local/processes.txt, the same list `make up` starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET
from tests.support import ADMIN_DSN, KAFKA_BOOTSTRAP, ROOT, create_database, drop_database, dsn_for

SERVICES = ("intake", "routing", "supervision", "notifications")
T = TypeVar("T")


# Listening ports for a stack's roles, chosen below the kernel's ephemeral range (32768-60999 here): a port the
# kernel picked for us (bind to 0) lies in that range, and between our check and the role's bind an outgoing
# connection of any process may be given it (seen: "address already in use" for an API). Below the range only
# another listener can take one, and the check sees those.
LISTEN_PORTS = (20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(1000):
        port = random.randrange(*LISTEN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {LISTEN_PORTS}")


def roles() -> list[tuple[str, str]]:
    lines = (ROOT / "deploy/local/processes.txt").read_text().splitlines()
    return [(fields[0], fields[1]) for fields in (line.split() for line in lines)
            if fields and not fields[0].startswith("#")]


def replicas_wanted() -> int:
    """E2E_REPLICAS=N runs N processes of every role (the local SMS gateway excepted); default 1."""
    return int(os.environ.get("E2E_REPLICAS", "1"))


class Stack:
    def __init__(self, workdir: Path, databases: dict[str, str], topic_prefix: str,
                 replicas: int | None = None, kafka_bootstrap: str | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        """`kafka_bootstrap`: another broker than the suite's (the chaos soak's private one); `extra_env`: more
        settings for every role (applied last)."""
        self.workdir = workdir
        self.databases = databases
        self.topic_prefix = topic_prefix
        self.replicas = replicas or replicas_wanted()
        self.kafka_bootstrap = kafka_bootstrap or KAFKA_BOOTSTRAP
        self.extra_env = dict(extra_env or {})
        self.ports = {name: free_port() for name in (*SERVICES, "sms", "smtp")}
        # The first replica of each role (the one kill/restart act on); the others in `extra`.
        self.processes: dict[tuple[str, str], subprocess.Popen] = {}
        self.extra: list[subprocess.Popen] = []
        self.admin_token = issue_token(DEV_JWT_SECRET, "e2e-admin", "admin", [""])

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_DATABASE_URL", "_HTTP_PORT"))}
        env.update({
            "ENV": "test", "KAFKA_BOOTSTRAP": self.kafka_bootstrap, "KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "CLOCK_MODE": "virtual", "CLOCK_SPEED": "1", "CLOCK_URL": self.url("supervision") + "/v1/clock",
            "NOTIFICATIONS_SMS_URL": self.url("sms") + "/sms",
            "NOTIFICATIONS_HOTLINE_CALLBACK_URL": self.url("sms") + "/webhook",
            "NOTIFICATIONS_SMS_GATEWAY_PORT": str(self.ports["sms"]),
            "NOTIFICATIONS_SMTP_PORT": str(self.ports["smtp"]), "NOTIFICATIONS_SMTP_SINK_PORT": str(self.ports["smtp"]),
            "NOTIFICATIONS_SMS_GATEWAY_LOG": str(self.workdir / "sms.jsonl"),
            "NOTIFICATIONS_DELIVERY_BACKOFF_SECONDS": "0.2",
            "NOTIFICATIONS_SMS_BUNDLE_SECONDS": "1",  # bundling has its own tests; keep the journey quick
            "NOTIFICATIONS_SMS_QUIET_HOURS": "",  # the night has its own tests; the journey runs at any hour
            "PYTHONUNBUFFERED": "1",
        })
        for service in SERVICES:
            env[f"{service.upper()}_DATABASE_URL"] = self.databases[service]
            env[f"{service.upper()}_HTTP_PORT"] = str(self.ports[service])
            if self.replicas > 1:
                env[f"{service.upper()}_HTTP_REUSE_PORT"] = "true"  # the API's replicas share its port
        env.update(self.extra_env)
        return env

    def log_path(self, service: str, role: str, replica: int = 0) -> Path:
        return self.workdir / (f"{service}-{role}" + (f"-{replica}" if replica else "") + ".log")

    def start(self, service: str, role: str, replica: int = 0) -> None:
        with self.log_path(service, role, replica).open("ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}", role], cwd=ROOT, env=self.env(),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if replica:
            self.extra.append(process)
        else:
            self.processes[(service, role)] = process

    def kill(self, service: str, role: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop((service, role))
        process.send_signal(sig)
        process.wait(timeout=15)

    def restart(self, service: str, role: str) -> None:
        self.kill(service, role)
        self.start(service, role)

    def run(self, service: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", f"services.{service}", *args], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=120, check=True)

    def up(self) -> None:
        for service in SERVICES:
            self.run(service, "migrate")
        for service, role in roles():
            for replica in range(1 if role == "sms-gateway" else self.replicas):
                self.start(service, role, replica)
            if (service, role) == ("supervision", "api"):
                self.wait_ready(["supervision"])
        self.wait_ready(list(SERVICES))

    def wait_ready(self, services: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for service in services:
            while True:
                try:
                    if httpx.get(self.url(service) + "/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not ready; see {self.workdir}/{service}-api.log")
                time.sleep(0.2)

    def down(self) -> None:
        every = [*self.processes.values(), *self.extra]
        for process in every:
            process.send_signal(signal.SIGTERM)
        for process in every:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        self.extra.clear()

    def logs(self) -> str:
        return "\n".join(f"==> {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.workdir.glob("*.log")))


@asynccontextmanager
async def running_stack(workdir: Path, topic_prefix: str,
                        extra_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """Every role up on private databases (dropped afterwards); the logs are printed if the body fails.
    `extra_env`: more settings for every role (Stack's)."""
    names = new_database_names()
    databases = {service: await create_database(name) for service, name in names.items()}
    stack = Stack(workdir, databases, topic_prefix, extra_env=extra_env)
    try:
        stack.up()
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()
        for name in names.values():
            await drop_database(name)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 45.0, interval: float = 0.25) -> T:
    """Poll `probe` until it returns something truthy; fail with what it last saw."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last probe: {last!r}")


async def alert_stream(http: httpx.AsyncClient, notifications_url: str, headers: dict[str, str],
                       timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
    """The supervisors' live stream (GET /v1/alerts/stream), event by event as a browser's EventSource reads it:
    {"id", "event", "data" (parsed)}; comment lines (the pings) are skipped. Ends when the caller stops reading.
    `timeout`: httpx's for this request (the client's otherwise); the server pings every 15 s."""
    async with http.stream("GET", notifications_url + "/v1/alerts/stream", headers=headers,
                           timeout=http.timeout if timeout is None else httpx.Timeout(timeout)) as response:
        assert response.status_code == 200, await response.aread()
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif not line and "data" in current:
                yield {**current, "data": json.loads(current["data"])}
                current = {}


def new_database_names() -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {service: f"e2e_{run}_{service}" for service in SERVICES}


__all__ = ["ADMIN_DSN", "Stack", "alert_stream", "dsn_for", "eventually", "new_database_names", "running_stack"]
