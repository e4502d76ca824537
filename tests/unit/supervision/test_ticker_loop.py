"""The ticker's loop (entrypoints/ticker.py) on a scripted bus: every session helps while passes come back full (a
catch-up), and only the leader polls once they come back short (the steady state), so idle sessions do not walk the
due index side by side for the same few clocks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from services.supervision.config import SupervisionSettings
from services.supervision.domain.commands import FireDueClocks
from services.supervision.entrypoints import ticker
from tests.support import FixedClock
from tests.unit.supervision.fakes import NOW

SESSIONS = 3
BATCH = 2
STEADY_PASSES = 20


class ScriptedBus:
    """The first pass full; the next ones full too, each held until every session has one in flight at once (the
    helpers joined); after that every pass short (nothing due), the ticker stopped after STEADY_PASSES of them.
    Notes which task ran each pass."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.calls = 0
        self.in_flight = 0
        self.all_in = asyncio.Event()
        self.backlog_tasks: set[asyncio.Task[Any]] = set()
        self.steady_tasks: list[asyncio.Task[Any]] = []
        self.fired = 0

    async def handle(self, command: FireDueClocks) -> list[datetime]:
        assert command.batch == BATCH
        task = asyncio.current_task()
        assert task is not None
        self.calls += 1
        if self.all_in.is_set():  # the backlog is gone: nothing more is due
            self.steady_tasks.append(task)
            if len(self.steady_tasks) >= STEADY_PASSES:
                self.stop.set()
            return []
        self.backlog_tasks.add(task)
        if self.calls > 1:  # the first full pass is what calls the helpers in
            self.in_flight += 1
            if self.in_flight == SESSIONS:
                self.all_in.set()
            await asyncio.wait_for(self.all_in.wait(), timeout=10)
            self.in_flight -= 1
        self.fired += BATCH
        return [NOW - timedelta(seconds=1)] * BATCH


async def _never_due(_pool: object, _floor: object) -> None:
    return None


async def _listen_until_stopped(_pool: object, _channel: str, callback: Any, stop: asyncio.Event) -> None:
    callback()
    await stop.wait()


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticker, "next_due_from", _never_due)
    monkeypatch.setattr(ticker, "listen", _listen_until_stopped)


async def test_helpers_join_while_batches_are_full_and_only_the_leader_polls_after(patched: None) -> None:
    stop = asyncio.Event()
    bus = ScriptedBus(stop)
    settings = SupervisionSettings(ticker_batch=BATCH, ticker_sessions=SESSIONS, ticker_idle_seconds=0.0)
    container = SimpleNamespace(settings=settings, pool=None, clock=FixedClock(NOW), bus=bus)
    lags: list[float] = []

    await asyncio.wait_for(ticker.run_ticker(container, stop, observe=lags.extend), timeout=10)  # type: ignore[arg-type]

    assert len(bus.backlog_tasks) == SESSIONS  # every session fired full batches during the catch-up
    # Once passes come back short each helper makes at most one more; then only the leader asks.
    leader = bus.steady_tasks[-1]
    assert set(bus.steady_tasks[-(STEADY_PASSES // 2):]) == {leader}
    assert sum(1 for task in bus.steady_tasks if task is not leader) <= SESSIONS - 1
    assert lags == [1.0] * bus.fired  # each fired clock's lag, observed once


def test_the_floor_rises_to_what_a_pass_found_unless_it_was_lowered_while_the_pass_ran() -> None:
    floor = ticker.DueFloor()
    start, mark = floor.begin()
    assert start is None  # from the index's start until a pass has looked
    floor.reached(mark, NOW)
    assert floor.at is None  # and until the ticker hears of clocks due sooner
    floor.listening(True)
    _, mark = floor.begin()
    floor.reached(mark, NOW)
    assert floor.at == NOW

    _, mark = floor.begin()
    assert floor.lower(NOW - timedelta(minutes=5))  # a clock started meanwhile, below the floor
    floor.reached(mark, NOW + timedelta(hours=1))  # this pass's look may have been too early to see it
    assert floor.at == NOW - timedelta(minutes=5)

    _, mark = floor.begin()
    assert not floor.lower(NOW)  # above the floor: nothing to do, and no need to wake the leader
    floor.reached(mark, NOW + timedelta(hours=1))
    assert floor.at == NOW  # raised, but only to it: that clock may not have been seen either

    # Clocks started all the time (the consumer's steady state), each above the floor: it still rises, each pass to
    # the lowest of what its look found and what it heard of meanwhile.
    for minute in range(1, 4):
        _, mark = floor.begin()
        assert not floor.lower(NOW + timedelta(hours=2, minutes=minute))
        floor.reached(mark, NOW + timedelta(minutes=minute))
        assert floor.at == NOW + timedelta(minutes=minute)
    # Two sessions' passes overlap: each keeps what it heard of, and one that ends without its look changes nothing.
    _, first = floor.begin()
    _, second = floor.begin()
    floor.lower(NOW + timedelta(minutes=10))
    floor.reached(first, NOW + timedelta(minutes=20))
    assert floor.at == NOW + timedelta(minutes=10)
    floor.abandon(second)
    assert floor.at == NOW + timedelta(minutes=10)
    floor.lower(NOW - timedelta(minutes=5))
    assert floor.at == NOW - timedelta(minutes=5)

    _, mark = floor.begin()
    floor.reached(mark, None)  # nothing due at all
    assert floor.at is not None and floor.at > NOW + timedelta(days=365)
    assert floor.lower(NOW)  # the next clock started is below it
    assert floor.lower(None) and floor.at is None  # from the start again
    _, mark = floor.begin()
    floor.listening(False)  # the LISTEN ended: clocks due sooner go unheard
    floor.reached(mark, NOW)
    _, mark = floor.begin()
    floor.reached(mark, NOW)
    assert floor.at is None
