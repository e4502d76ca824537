"""Shared by the benchmarks: throwaway databases, server processes, wrk, and the report."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from tests import throwaway
from tests.e2e.stack import free_port  # noqa: F401  (below the ephemeral range: no race with outgoing connections)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Figure:
    """One measured figure beside its baseline and target."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


async def analyse(dsns: Iterable[str]) -> None:
    """ANALYZE each database. A running city's tables have statistics (autovacuum analyses them within its first
    minute); a benchmark's, seconds old, have none, and the plans its first statements make are kept: a foreign
    key's check then reads the whole referenced table (intake: 21,593 sequential scans in 18 s, throughput falling
    as the table grew). Benchmarks call this after their warm-up."""
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()


def report_batches(metrics: str) -> tuple[float, float]:
    """Reports intake's group commit has committed and the commits it took, from an API process's /metrics text
    (each process has its own)."""
    values = dict(re.findall(r"^intake_report_batch_size_(sum|count) (\S+)$", metrics, re.MULTILINE))
    return float(values.get("sum", 0)), float(values.get("count", 0))


async def create_database(prefix: str) -> tuple[str, str]:
    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    return name, await throwaway.create_database(name)


drop_database = throwaway.drop_database




class Server:
    """A process serving HTTP on a free port until the block ends."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, ready_path: str = "/health") -> None:
        self.args, self.env, self.port, self.ready_path = args, env, port, ready_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(self.args, cwd=ROOT, env={**os.environ, **self.env},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{' '.join(self.args)} did not start")

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=15)


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def wrk(url: str, script: Path | None, *, threads: int = 2, connections: int = 32, seconds: int = 15,
        env: dict[str, str] | None = None) -> WrkResult:
    """wrk's figures for `url`: the requests `script` makes, or GET `url` without one."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: `apt-get install wrk` (make bench installs it)")
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          *(["-s", str(script)] if script else []), url], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    return parse_wrk(out)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(out: str) -> WrkResult:
    pct = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.MULTILINE)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(rps, pct["50"], pct["90"], pct["99"], total, int(non_2xx.group(1)) if non_2xx else 0)


def report(figures: list[Figure]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"bench-{stamp}.json"
    meta = {"when": stamp, "python": sys.version.split()[0], "machine": platform.machine(),
            "cpus": os.cpu_count(), "commit": _commit()}
    path.write_text(json.dumps({"meta": meta, "figures": [asdict(f) | {"ratio": f.ratio} for f in figures]},
                               indent=2, ensure_ascii=False))
    (RESULTS / "latest.json").write_text(path.read_text())
    _print_table(figures)
    print(f"\nresults: {path.relative_to(ROOT)}")
    return path


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _print_table(figures: list[Figure]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="benchmarks (same machine, same run)")
    for column in ("benchmark", "metric", "value", "baseline", "ratio", "target"):
        table.add_column(column, justify="right" if column in ("value", "baseline", "ratio") else "left")
    for f in figures:
        table.add_row(f.benchmark, f.metric, f"{f.value:,.2f} {f.unit}",
                      f"{f.baseline:,.2f} ({f.baseline_name})" if f.baseline is not None else "—",
                      f"{f.ratio:.2f}×" if f.ratio else "—", f.target)
    Console().print(table)


def memory_kib(pid: int | str) -> dict[str, int] | None:
    """A process's memory from /proc/<pid>/smaps_rollup, in KiB: `rss` (resident pages, shared ones counted whole),
    `pss` (proportional: each shared page split between the processes mapping it, so sums over processes add up),
    `anon` (anonymous pages: the heap, where a leak lands) and `uss` (private pages only). None once it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = {line.split(":", 1)[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if line.endswith("kB")}
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0), "anon": fields.get("Anonymous", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def least_squares_slope(xs: list[float], ys: list[float]) -> float:
    """The slope of the least-squares line through (xs, ys); 0 with fewer than two distinct xs."""
    if len(xs) < 2:
        return 0.0
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
