"""Durable intake: cases accepted per second with the case, its timeline and its outbox row committed,
beside a minimal FastAPI endpoint on the same server settings (DESIGN.md §9)."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import httpx

from bench.common import ROOT, Figure, Server, analyse, create_database, drop_database, free_port, report_batches, wrk
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.settings import DEV_JWT_SECRET

SCRIPT = ROOT / "bench" / "report_incident.lua"
WORKERS = 2  # one API process per core; the baseline runs as one process (it is not the bottleneck)


def run(seconds: int = 15, connections: int = 32) -> list[Figure]:
    name, dsn = asyncio.run(create_database("intake"))
    try:
        asyncio.run(migrate(dsn, ROOT / "services" / "intake"))
        token = issue_token(DEV_JWT_SECRET, "bench", "admin", [""])
        env = {"BENCH_TOKEN": token}
        port = free_port()
        with Server([sys.executable, "bench/baseline_app.py", str(port)], {}, port) as base:
            wrk(base.url, SCRIPT, seconds=3, connections=connections, env=env)  # warm-up
            baseline = wrk(base.url, SCRIPT, seconds=seconds, connections=connections, env=env)
        port = free_port()
        server_env = {"INTAKE_DATABASE_URL": dsn, "INTAKE_HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                      "INTAKE_DB_POOL_MAX": "12", "INTAKE_HTTP_WORKERS": str(WORKERS)}
        with Server([sys.executable, "-m", "services.intake", "api"], server_env, port) as intake:
            wrk(intake.url, SCRIPT, seconds=3, connections=connections, env=env)
            asyncio.run(analyse([dsn]))  # statistics, as a running intake has (see analyse)
            durable = wrk(intake.url, SCRIPT, seconds=seconds, connections=connections, env=env)
            batch = _mean_batch(httpx.get(intake.url + "/metrics", timeout=5).text)
        stored = asyncio.run(_count(dsn))
    finally:
        asyncio.run(drop_database(name))
    notes = {"connections": connections, "seconds": seconds, "requests": durable.requests,
             "non_2xx": durable.non_2xx, "cases_stored": stored, "api_processes": WORKERS,
             "mean_reports_per_commit_one_process": batch}
    return [
        Figure("intake.accept", "throughput", durable.requests_per_second, "req/s", baseline.requests_per_second,
               "minimal FastAPI", "≥ 2,500 req/s", notes),
        Figure("intake.accept", "p50 latency", durable.p50_ms, "ms", baseline.p50_ms, "minimal FastAPI"),
        Figure("intake.accept", "p99 latency", durable.p99_ms, "ms", baseline.p99_ms, "minimal FastAPI",
               "≤ 75 ms"),
    ]


def _mean_batch(metrics: str) -> float | None:
    """Reports per group commit, as one API process saw them (each process has its own /metrics)."""
    reports, commits = report_batches(metrics)
    return round(reports / commits, 1) if commits else None


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM incident")
    finally:
        await conn.close()
