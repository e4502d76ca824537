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
    """Empty where this process sits in the root task group rather than an autogroup (a CI container's first
    session): the probe prints "-" then too."""
    group = Path("/proc/self/autogroup").read_text().split() if AUTOGROUPS else []
    return group[-1] if group else "-"


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


BUSY_KERNEL = """
import os, pathlib
from shared import cli
real, refusals = pathlib.Path.write_text, {refusals}
def write_text(self, text, *args, **kwargs):
    global refusals
    if str(self) == "/proc/self/autogroup" and refusals:
        refusals -= 1
        raise BlockingIOError(11, "Resource temporarily unavailable")
    return real(self, text, *args, **kwargs)
pathlib.Path.write_text = write_text
cli.time.sleep = lambda seconds: None
cli.yield_to_the_api(6, attempts=5)
group = open('/proc/self/autogroup').read().split() if os.path.exists('/proc/self/autogroup') else []
print(os.getpriority(os.PRIO_PROCESS, 0), group[-1] if group else '-', refusals)
"""


def _busy_kernel(refusals: int) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", BUSY_KERNEL.format(refusals=refusals)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, start_new_session=True)
    assert done.returncode == 0, done.stderr[-2000:]
    nice, group, _ = done.stdout.splitlines()[-1].split()  # after the role's log lines, if any
    assert int(nice) == max(6, os.getpriority(os.PRIO_PROCESS, 0))
    return group, done.stdout + done.stderr


def test_a_worker_started_with_others_tries_its_autogroup_again_while_the_kernel_says_not_now():
    """Without CAP_SYS_ADMIN the kernel takes one autogroup change per tenth of a second machine-wide (EAGAIN):
    a stack starting its roles together must not leave all but the first at the API's priority."""
    group, _ = _busy_kernel(refusals=3)
    assert group == ("6" if AUTOGROUPS else "-")


def test_a_worker_that_never_gets_its_autogroup_says_so_and_runs_on():
    group, output = _busy_kernel(refusals=99)  # niced itself all the same (asserted in _busy_kernel)
    if AUTOGROUPS:
        assert group == "0"  # its new session's group, left as it was
        assert "autogroup_niceness_not_set" in output
