"""The local stack under supervisord (deploy/local/services.sh): a role killed with SIGKILL is started again by the
supervisor, not by anyone outside the stack. Private databases, topics, ports and run directory."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.e2e.stack import SERVICES, Stack, eventually, new_database_names, roles
from tests.e2e.test_journey import GRID_1_WORKER, load_city, report_urgent
from tests.support import ROOT, create_database, drop_database

SERVICES_SH = ROOT / "deploy/local/services.sh"
T = TypeVar("T")


class Supervised:
    """services.sh on a private run directory, with a private stack's environment."""

    def __init__(self, stack: Stack, run_dir: Path) -> None:
        self.stack = stack
        self.env = {**stack.env(), "GRID_RUN_DIR": str(run_dir), "READY_TIMEOUT": "90"}

    def sh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(SERVICES_SH), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=120, check=check)

    def pid(self, program: str) -> int:
        """The pid supervisord reports (0 while the program is not running)."""
        out = self.sh("ctl", "pid", program, check=False).stdout.strip()
        return int(out) if out.isdigit() else 0

    def state(self, program: str) -> str:
        fields = self.sh("ctl", "status", program, check=False).stdout.split()
        return fields[1] if len(fields) > 1 else ""

    def ready(self, service: str) -> bool:
        try:
            return httpx.get(self.stack.url(service) + "/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def poll(probe: Callable[[], T], timeout: float = 60.0, interval: float = 0.1) -> T:
    """Call `probe` until it returns something truthy; fail with what it last saw."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s; last: {last!r}")
        time.sleep(interval)


@pytest.fixture
def supervised(tmp_path, topic_prefix) -> Iterator[Supervised]:
    names = new_database_names()
    loop = asyncio.new_event_loop()
    databases = {s: loop.run_until_complete(create_database(n)) for s, n in names.items()}
    # A short path: the control socket lives there (AF_UNIX paths end at 108 bytes).
    run_dir = Path(tempfile.mkdtemp(prefix="grid-sv-"))
    stack = Stack(tmp_path, databases, topic_prefix)
    sv = Supervised(stack, run_dir)
    try:
        for service in SERVICES:
            stack.run(service, "migrate")
        sv.sh("start")
        sv.sh("wait")
        yield sv
    except BaseException:
        for log in sorted((run_dir / "logs").glob("*.log")):
            print(f"==> {log.name}\n{log.read_text(errors='replace')[-2000:]}")
        raise
    finally:
        pids = [p for p in (sv.pid(f"{s}-api") for s in SERVICES) if p]
        sv.sh("stop", check=False)
        for service in SERVICES:
            loop.run_until_complete(drop_database(names[service]))
        loop.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not [p for p in pids if Path(f"/proc/{p}").exists()], "a role outlived `services.sh stop`"


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_supervisord_restarts_a_role_killed_with_sigkill(supervised: Supervised):
    sv = supervised
    status = sv.sh("status")
    assert status.stdout.count("RUNNING") == len(roles()), status.stdout
    # The workers yield the CPU to the APIs (WORKER_NICE, 10 by default; bench/stack_e2e.py measures the API's share);
    # the ticker does not (its lag is a target of its own)
    assert [_niceness(sv.pid(p)) for p in ("intake-api", "routing-consume", "notifications-deliver",
                                           "supervision-ticker")] == [0, 10, 10, 0]

    took = {}
    for program, service in [("intake-api", "intake"), ("supervision-ticker", None),
                             ("notifications-deliver", None), ("routing-consume", None)]:
        old = sv.pid(program)
        assert old
        started = time.monotonic()
        os.kill(old, signal.SIGKILL)
        new = poll(lambda program=program, old=old: (p := sv.pid(program)) not in (0, old) and p)
        # Running: it stayed up past startsecs, so it is not crash-looping.
        poll(lambda program=program: sv.state(program) == "RUNNING")
        if service:
            poll(lambda service=service: sv.ready(service))
        took[program] = round(time.monotonic() - started, 1)
        assert not Path(f"/proc/{old}").exists() or "zombie" in Path(f"/proc/{old}/status").read_text().lower()
        assert new != old
    print("back (new pid, RUNNING, /ready for an API) after seconds:", took)

    # Every role runs again, and the restarted ones work: a report is routed (routing's consumer) and the grid
    # worker's SMS goes out (the deliverer).
    assert sv.sh("status").returncode == 0
    load_city(sv.stack)

    async def journey() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            incident_id = await report_urgent(http, sv.stack)

            async def sms() -> list[dict]:
                sent = (await http.get(sv.stack.url("sms") + "/sms", params={"phone": GRID_1_WORKER["phone"]})).json()
                return [m for m in sent if incident_id[:8] in m["text"]]

            await eventually(sms, timeout=60)

    asyncio.run(journey())
