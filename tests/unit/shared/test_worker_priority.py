"""Worker roles yield the CPU to the API (shared/cli.py yield_to_the_api): their niceness, and their session's
autogroup when they lead one (Linux shares the CPU fairly between autogroups, whatever the niceness inside)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PROBE = ("import os; from shared.cli import yield_to_the_api; yield_to_the_api({niceness}); "
         "group = open('/proc/self/autogroup').read().split() if os.path.exists('/proc/self/autogroup') else []; "
         "print(os.getpriority(os.PRIO_PROCESS, 0), group[-1] if group else '-')")
AUTOGROUPS = Path("/proc/self/autogroup").exists()


def _probe(niceness: int, *, own_session: bool, started_at: int = 0) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(niceness=niceness)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, start_new_session=own_session,
                          preexec_fn=(lambda: os.nice(started_at)) if started_at else None)
    assert done.returncode == 0, done.stderr[-2000:]
    nice, group = done.stdout.split()
    return int(nice), group


def _our_autogroup_nice() -> str:
    return Path("/proc/self/autogroup").read_text().split()[-1] if AUTOGROUPS else "-"


def test_a_worker_leading_its_session_is_niced_and_so_is_its_autogroup():
    nice, group = _probe(7, own_session=True)
    assert nice == max(7, os.getpriority(os.PRIO_PROCESS, 0))
    assert group == ("7" if AUTOGROUPS else "-")


def test_a_worker_sharing_its_session_leaves_the_autogroup_of_its_siblings_alone():
    nice, group = _probe(7, own_session=False)
    assert nice == max(7, os.getpriority(os.PRIO_PROCESS, 0))
    assert group == _our_autogroup_nice()  # the session of the test runner (and, under a supervisor, the API)


def test_a_worker_started_nicer_stays_so():
    nice, _ = _probe(3, own_session=True, started_at=12)
    assert nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 12)


def test_zero_leaves_the_schedulers_default():
    nice, group = _probe(0, own_session=True)
    assert (nice, group) == (os.getpriority(os.PRIO_PROCESS, 0), "0" if AUTOGROUPS else "-")
