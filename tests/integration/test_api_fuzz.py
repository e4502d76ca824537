"""Fuzz intake's API from its own OpenAPI document with schemathesis: whatever arrives, never a 500.

The API runs as a real process on a fresh database; schemathesis's CLI drives it (coverage, fuzzing and
stateful phases) with a city-wide admin token, a fixed seed and a bounded number of examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.settings import DEV_JWT_SECRET
from tests.e2e.stack import free_port
from tests.support import ROOT, SERVICE_DIRS


@pytest.fixture
async def intake_url(fresh_database, tmp_path):
    dsn = await fresh_database("fuzz")
    await migrate(dsn, SERVICE_DIRS["intake"])
    port = free_port()
    env = {**os.environ, "INTAKE_DATABASE_URL": dsn, "INTAKE_HTTP_PORT": str(port), "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "intake-api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "services.intake", "api"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        print((tmp_path / "intake-api.log").read_text(errors="replace")[-5000:])


def test_intake_api_never_answers_500(intake_url):
    token = issue_token(DEV_JWT_SECRET, "fuzzer", "admin", [""])
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{intake_url}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "30", "--seed", "20261123",
         "--generation-database", "none", "--header", f"Authorization: Bearer {token}",
         "--request-timeout", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "API Operations" in result.stdout and "Tested:" in result.stdout
