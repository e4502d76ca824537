"""shared/runtime.py's `build_clock` for the owner of the virtual clock, over a fake anchor store and a fake
real time (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ClockAnchor, RealClock, VirtualClock
from shared.runtime import build_clock
from shared.settings import ServiceSettings
from tests.support import FakeTime

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


class FakeClockStore:
    """The anchor as supervision's database keeps it; every save recorded."""

    def __init__(self, anchor: ClockAnchor | None = None) -> None:
        self.anchor = anchor
        self.saved: list[ClockAnchor] = []

    async def load(self) -> ClockAnchor | None:
        return self.anchor

    async def save(self, anchor: ClockAnchor) -> None:
        self.anchor = anchor
        self.saved.append(anchor)


def virtual(speed: float) -> ServiceSettings:
    return ServiceSettings(clock_mode="virtual", clock_speed=speed)


async def owned_clock(settings: ServiceSettings, store: FakeClockStore, real: FakeTime) -> VirtualClock:
    clock, tasks = await build_clock(settings, store, real_time=real)
    for task in tasks:  # the refresh loop is not what these tests are about
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(clock, VirtualClock)
    return clock


async def test_a_stored_anchor_keeps_its_virtual_time_but_takes_the_configured_speed():
    """DESIGN §6 Time: the stack's virtual clock runs at `CLOCK_SPEED` × real time. A demo started at 120×
    after an earlier run at 1× goes on from where virtual time was, at 120× (and says so to the others)."""
    real = FakeTime(10_000.0)
    store = FakeClockStore(ClockAnchor(T0, 9_000.0, speed=1.0))  # an earlier run: 1,000 s ago at 1×
    clock = await owned_clock(virtual(120), store, real)
    assert clock.now() == T0 + timedelta(seconds=1_000)  # virtual time went on, not reset
    assert clock.speed == 120
    real.now += 60
    assert clock.now() == T0 + timedelta(seconds=1_000 + 60 * 120)
    [saved] = store.saved
    assert saved == ClockAnchor(T0 + timedelta(seconds=1_000), 10_000.0, 120)  # followers read the new speed


async def test_a_stored_anchor_at_the_configured_speed_is_used_as_it_is():
    """Every supervision process builds the clock at start: once the speed agrees, nobody moves the anchor
    (an advance made through the API stays where it was put)."""
    anchor = ClockAnchor(T0, 9_000.0, speed=120)
    store = FakeClockStore(anchor)
    clock = await owned_clock(virtual(120), store, FakeTime(9_010.0))
    assert clock.anchor == anchor and store.saved == []
    assert clock.now() == T0 + timedelta(seconds=1_200)


async def test_without_a_stored_anchor_the_clock_starts_now_at_the_configured_speed():
    """The first start stores an anchor at real now, so the other processes follow the same time."""
    real = FakeTime(T0.timestamp())
    store = FakeClockStore()
    clock = await owned_clock(virtual(60), store, real)
    assert store.saved == [ClockAnchor(T0, T0.timestamp(), 60)]
    real.now += 10
    assert clock.now() == T0 + timedelta(minutes=10)


@pytest.mark.parametrize("speed", [1.0, 120.0])
async def test_the_real_clock_reads_no_store(speed):
    store = FakeClockStore(ClockAnchor(T0, 0.0, speed=3.0))
    clock, tasks = await build_clock(ServiceSettings(clock_mode="real", clock_speed=speed), store)
    assert isinstance(clock, RealClock) and tasks == [] and store.saved == []
