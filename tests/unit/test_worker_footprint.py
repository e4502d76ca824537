"""The worker roles (consume, relay, ticker, deliverer, resumer, fetcher) do not load the HTTP stack: FastAPI, the
routes and their models are some 20 MiB per process, and a stack runs a dozen workers (issue 18: idle memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

HTTP_STACK = ("fastapi", "starlette", "uvicorn")


@pytest.mark.parametrize("service", ["intake", "routing", "supervision", "notifications"])
def test_a_service_command_line_loads_no_http_stack_until_its_api_role_runs(service):
    probe = (f"import sys, services.{service}.__main__; "
             f"print(','.join(m for m in {HTTP_STACK!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"ENV": "test", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"services.{service} loads {done.stdout.strip()} in every worker role"
