"""The only source of "now" in every service.

`RealClock` in production. `VirtualClock` (demo and tests, `CLOCK_MODE=virtual`) runs at `speed` ×
real time from an anchor and can be moved forward; supervision keeps the anchor in its database and
serves it at `GET /v1/clock`, and the other services follow that endpoint, so the stack shares one
virtual time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx


class Clock(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def speed(self) -> float: ...

    def now(self) -> datetime: ...


class RealClock:
    mode = "real"
    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class ClockAnchor:
    """Virtual time `virtual` was current at real unix time `real`."""

    virtual: datetime
    real: float
    speed: float

    def at(self, real_now: float) -> datetime:
        return self.virtual + timedelta(seconds=(real_now - self.real) * self.speed)


class VirtualClock:
    mode = "virtual"

    def __init__(self, anchor: ClockAnchor, real_time=time.time) -> None:
        self._anchor = anchor
        self._real_time = real_time

    @property
    def anchor(self) -> ClockAnchor:
        return self._anchor

    @property
    def speed(self) -> float:
        return self._anchor.speed

    def now(self) -> datetime:
        return self._anchor.at(self._real_time())

    def set_anchor(self, anchor: ClockAnchor) -> None:
        # Virtual time never runs backwards for a reader, even if a refresh lags a little.
        if anchor.at(self._real_time()) >= self.now() or anchor.speed != self._anchor.speed:
            self._anchor = anchor

    def advanced(self, seconds: float) -> ClockAnchor:
        """The anchor after moving `seconds` forward (the caller stores it)."""
        real_now = self._real_time()
        return ClockAnchor(self._anchor.at(real_now) + timedelta(seconds=seconds), real_now, self.speed)


async def follow_clock_url(clock: VirtualClock, url: str, interval: float = 0.5) -> None:
    """Keep a follower's virtual clock in step with the owner's `GET /v1/clock`."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            try:
                response = await http.get(url)
                response.raise_for_status()
                body = response.json()
                clock.set_anchor(
                    ClockAnchor(datetime.fromisoformat(body["now"]), time.time(), float(body["speed"]))
                )
            except (httpx.HTTPError, KeyError, ValueError):
                pass  # the owner is starting or restarting; keep running on the last anchor
            await asyncio.sleep(interval)
