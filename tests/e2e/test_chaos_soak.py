"""The chaos soak, short (bench/chaos.py; `make chaos` is the long one): 300 incidents reported with retries while
one role of each kind (api, consume, relay, ticker, resumer, fetcher, deliver, the SMS gateway; which service's is
drawn with a fixed seed) is killed with SIGKILL and started again, the broker is killed and Postgres restarted
immediately. Nothing is lost or doubled (straight from the four databases and the gateway's log), no role exits by
itself, and every fault is recovered: a case reported right after it gets its new-case and its light SMS.

It runs on a Postgres cluster and a Kafka broker of its own (deploy/local's scripts with other ports and
directories), stopped at the end whatever happens: the suite's Postgres and broker are never touched.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from bench.chaos import LOCAL, TEST_INFRA, Soak, SoakConfig, print_report, split_role
from tests.e2e.stack import roles

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

CONFIG = SoakConfig(incidents=300, faults=10, seed=20261205, rate=5.0, broker_kills=1, postgres_restarts=1,
                    fault_deadline=90.0, drain_deadline=120.0)


@pytest.fixture
def chaos(tmp_path) -> Iterator[Soak]:
    soak = Soak(TEST_INFRA, CONFIG, tmp_path)
    try:
        yield soak
    finally:
        # Also when the test was cut short (timeout, interrupt): no role, broker or cluster outlives it.
        stack = getattr(soak, "stack", None)
        if stack is not None:
            stack.down()
        for script in ("kafka.sh", "postgres.sh"):
            subprocess.run([str(LOCAL / script), "stop"], env=TEST_INFRA.script_env(), capture_output=True,
                           timeout=60, check=False)


async def test_a_short_chaos_soak_loses_nothing_and_doubles_nothing(chaos: Soak):
    started = time.monotonic()
    await TEST_INFRA.start()
    result = await chaos.run()
    print_report(result)  # pytest shows it when the test fails (with -s or -rA always)
    print(f"chaos soak test: {time.monotonic() - started:.0f} s")

    killed = [split_role(f.target)[1] for f in result.faults if f.kind == "role"]
    assert sorted(set(killed)) == sorted({role for _, role in roles()}), killed
    assert [f.kind for f in result.faults].count("broker") == 1
    assert [f.kind for f in result.faults].count("postgres") == 1
    failed = [f"{c.name}: {c.counts} {c.examples}" for c in result.checks if not c.ok]
    assert not failed, "\n".join(failed)
