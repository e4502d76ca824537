"""What the supervision API tells Prometheus about the clocks (its `/metrics`), refreshed every REFRESH_SECONDS
from two cheap aggregates, whatever the traffic:

- `supervision_clocks_running{district, light}`: running clocks per district (the grid code's first six digits,
  `none` for a case without a grid) and light; at most MAX_DISTRICTS districts, the rest as `other`. A district
  whose clocks all stopped stays, at 0.
- `supervision_ticker_overdue_seconds`: how long (real seconds) the most overdue threshold has been due without
  the ticker firing it; 0 while the ticker keeps up. Measured here, not in the ticker, so that it grows when the
  ticker is down.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog
from prometheus_client import Gauge

from services.supervision.adapters.repository import QUERIES
from shared.clock import Clock

log = structlog.get_logger("supervision.metrics")
REFRESH_SECONDS = 30.0
MAX_DISTRICTS = 64
LIGHTS = ("green", "yellow", "red")

RUNNING_CLOCKS = Gauge("supervision_clocks_running", "Running phase clocks by district and light (超时亮灯)",
                       ["district", "light"])
TICKER_OVERDUE = Gauge("supervision_ticker_overdue_seconds",
                       "Real seconds the most overdue light or 督办 threshold has waited for the ticker (0: none)")


def district_label(code: str, known: set[str]) -> str:
    if not code:
        return "none"
    if code in known or len(known) < MAX_DISTRICTS:
        known.add(code)
        return code
    return "other"


class ClockMetrics:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.districts: set[str] = set()
        self.shown: set[tuple[str, str]] = set()

    async def refresh(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(QUERIES.running_clocks_by_district)
            due: Any = await conn.fetchval(QUERIES.next_due_at)
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (district_label(row["district"], self.districts), row["light"])
            counts[key] = counts.get(key, 0) + row["clocks"]
        for district in {d for d, _ in counts}:
            for light in LIGHTS:
                counts.setdefault((district, light), 0)
        for key in self.shown - counts.keys():
            counts[key] = 0  # stopped since: shown at 0, not left at its last count
        for (district, light), clocks in counts.items():
            RUNNING_CLOCKS.labels(district, light).set(clocks)
        self.shown |= counts.keys()
        overdue = 0.0
        if due is not None:
            speed = self.clock.speed if self.clock.speed > 0 else 1.0  # a stopped (test) clock: as real time
            overdue = max(0.0, (self.clock.now() - due).total_seconds() / speed)
        TICKER_OVERDUE.set(overdue)

    async def run(self, every: float = REFRESH_SECONDS) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - a metric never takes the API down; the last values stay
                log.debug("clock_metrics_failed", error=repr(exc)[:200])
            await asyncio.sleep(every)
