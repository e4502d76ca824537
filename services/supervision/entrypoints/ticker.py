"""The ticker: fires due lights and 督办 levels. Any number may run, each with up to `ticker_sessions` concurrent
passes; SKIP LOCKED shares the work.

One session (the leader) watches the clocks: between passes it sleeps until the next threshold falls due, at most
`ticker_idle_seconds`; a change of the virtual clock, or a clock made due sooner than that, wakes it at once. The
other sessions join only while there is a backlog (a pass came back with a full batch: a catch-up after the ticker
was away) and go back to waiting when a pass comes back short. Keeping them out of the steady state matters at
scale: with ten million open clocks (bench/supervision_ticker.py) two sessions polling side by side for the same
few clocks only doubled the work and the lag with it.

A pass reads the due index (phase_clock_due) from a floor (`DueFloor`), not from its start. Every fired threshold
moves its clock's entry further on and leaves the old one dead at the head; while an older transaction runs (a
backup's snapshot) index scans cannot mark those dead and VACUUM cannot remove them, and a pass from the start read
103,000 pages (5-6 s) at ten million clocks after a catch-up of 100,000. The floor is the lowest next check found
by the last look (each look starts from the floor before it), so no live clock is due below it as long as next
checks only move later, which is all the ticker's own passes do (past the instant they fire at; another ticker's
too, and a virtual clock set back changes none of it). A clock skipped because another session held it locked is
read, by the look, as last committed: the floor stays at or below it. Whatever makes a clock due sooner (started,
resumed, recounted by a calendar change, fixed by hand) notifies `clock_due_sooner` from a trigger (migration 0013)
and the floor comes down to it. Passes read from the start until the LISTEN is on, and whenever it is established
again (what was sent while it was down is lost) or has ended. A sweep every SWEEP_SECONDS looks below the floor
for what no trigger told (a writer with triggers off); it finds nothing otherwise, and runs beside the passes, not
in their way.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Histogram

from services.supervision.adapters.repository import next_due_from
from services.supervision.bootstrap import SupervisionContainer
from services.supervision.domain.commands import FireDueClocks
from shared.resilience import RideOut, Stopped, first_of, listen

log = structlog.get_logger("ticker")
LAG = Histogram("supervision_threshold_lag_seconds",
                "From the time a light or 督办 level fell due to the ticker's commit (clock seconds)",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 600))
SOONER = "clock_due_sooner"  # migration 0013's trigger; payload: the epoch second the clock is now due ('': -inf)
SWEEP_SECONDS = 300.0
_NOTHING_DUE = datetime.max.replace(tzinfo=UTC)  # the floor while no clock has a next check at all


class DueFloor:
    """Where passes start reading the due index: at or below every clock's next check (None: the index's start).

    One per ticker process, shared by its sessions. A pass raises it to the next due time it found, or to the
    lowest due time heard of while the pass ran if that is lower: the pass's look may have been too early to see
    that clock. (Only the lowest is kept: a consumer starts clocks all the time, and a floor kept down by any
    clock heard of during a pass would stop rising, and the passes would walk the dead head again.)"""

    def __init__(self) -> None:
        self.at: datetime | None = None
        self.heard = False  # the LISTEN is on: until it is, and once it has ended, passes read from the start
        # Each pass under way: the lowest due time heard of since it began (None: the start).
        self._heard_during: dict[int, datetime | None] = {}
        self._passes = itertools.count()

    def listening(self, on: bool) -> None:
        """The LISTEN (re)established, or ended: either way what was sent meanwhile is lost."""
        self.heard = on
        self.lower(None)

    def begin(self) -> tuple[datetime | None, int]:
        """Where a pass starts, and the mark `reached` (or `abandon`) takes."""
        mark = next(self._passes)
        self._heard_during[mark] = _NOTHING_DUE
        return self.at, mark

    def reached(self, mark: int, next_due: datetime | None) -> None:
        """A pass begun at `mark` found nothing due before `next_due` (None: nothing due at all) from its start."""
        heard = self._heard_during.pop(mark, None)
        if self.heard:
            found = _NOTHING_DUE if next_due is None else next_due
            self.at = None if heard is None else min(found, heard)

    def abandon(self, mark: int) -> None:
        """Forget a pass (one that ended without its look leaves the floor as it was)."""
        self._heard_during.pop(mark, None)

    def lower(self, to: datetime | None) -> bool:
        """A clock is due at `to` (None: any clock may be anywhere); True when the leader should look again (below
        the floor, or no floor yet). Noted for every pass under way, below the floor or not: it may raise the
        floor past it."""
        for mark, lowest in self._heard_during.items():
            self._heard_during[mark] = None if to is None or lowest is None else min(lowest, to)
        if self.at is None:
            return True
        if to is None or to < self.at:
            self.at = to
            return True
        return False


async def run_ticker(container: SupervisionContainer, stop: asyncio.Event,
                     observe: Callable[[list[float]], None] | None = None, floor: DueFloor | None = None) -> None:
    """`observe` receives the lags of each committed pass (the benchmark listens; production has LAG); `floor`
    is for tests to watch.

    Postgres away (a restart, its recovery, a dropped connection) is waited out with backoff, in each pass and
    in the LISTEN (shared/resilience.py): the ticker never ends because of it."""
    sessions = max(1, container.settings.ticker_sessions)
    floor = DueFloor() if floor is None else floor
    wake = asyncio.Event()     # the leader's: a change of the virtual clock, a clock due sooner
    backlog = asyncio.Event()  # set while passes come back full: the other sessions help

    def hint(*_: object) -> None:
        wake.set()

    def sooner(*args: object) -> None:
        if len(args) > 3:
            if floor.lower(_instant(args[3])):
                wake.set()
            return
        floor.listening(True)  # called without arguments when the LISTEN is (re)established
        told.set()
        wake.set()

    def deaf(task: asyncio.Task[None]) -> None:
        floor.listening(False)
        if not stop.is_set():
            log.error("ticker_listen_ended", error=None if task.cancelled() else repr(task.exception()))

    told = asyncio.Event()
    listening = [asyncio.create_task(listen(container.pool, channel, callback, stop))
                 for channel, callback in (("clock_changed", hint), (SOONER, sooner))]
    listening[1].add_done_callback(deaf)
    log.info("ticker_started", sessions=sessions)
    try:
        # The first pass reads the dead head from the index's start: after the LISTEN is on, or it would have to
        # read it again (what the LISTEN's start resets).
        told_or_stopped = asyncio.ensure_future(first_of(told, stop))
        await asyncio.wait([told_or_stopped, listening[1]], return_when=asyncio.FIRST_COMPLETED)
        told_or_stopped.cancel()
        await asyncio.gather(_lead(container, stop, wake, backlog, floor, observe),
                             *(_help(container, stop, backlog, floor, observe) for _ in range(sessions - 1)),
                             _sweep(container, stop, wake, floor))
    finally:
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)


async def _lead(container: SupervisionContainer, stop: asyncio.Event, wake: asyncio.Event, backlog: asyncio.Event,
                floor: DueFloor, observe: Callable[[list[float]], None] | None) -> None:
    settings = container.settings
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            fired, upcoming = await fire_pass(container, floor, rider, observe)
            if fired >= settings.ticker_batch:
                backlog.set()
                continue
            backlog.clear()
            # Until the look's next due time, or the floor if a clock heard of during the pass brought it lower
            # (heard of above the old floor, it woke no one).
            due = [at for at in (upcoming, floor.at) if at is not None]
            await _sleep_until_due(container, wake, settings.ticker_idle_seconds, min(due) if due else None)
    except Stopped:
        return


async def _help(container: SupervisionContainer, stop: asyncio.Event, backlog: asyncio.Event, floor: DueFloor,
                observe: Callable[[list[float]], None] | None) -> None:
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            await first_of(backlog, stop)
            while not stop.is_set() and backlog.is_set():
                fired, _ = await fire_pass(container, floor, rider, observe)
                if fired < container.settings.ticker_batch:
                    backlog.clear()
    except Stopped:
        return


async def fire_pass(container: SupervisionContainer, floor: DueFloor, rider: RideOut,
                    observe: Callable[[list[float]], None] | None = None) -> tuple[int, datetime | None]:
    """Fire one batch from the floor, then look from the same place for the next due time (the floor's next
    value, and what the leader sleeps until); returns how many clocks fired and that time."""
    start, mark = floor.begin()
    try:
        if start is None:  # find the floor first, so that the dead head is read once, not by the claim and the look
            start = await rider.call(lambda: next_due_from(container.pool, None)) or _NOTHING_DUE
        due_times: list[datetime] = await rider.call(
            lambda: container.bus.handle(FireDueClocks(container.settings.ticker_batch, start)))
        if due_times:
            committed = container.clock.now()
            lags = [(committed - due).total_seconds() for due in due_times]
            for lag in lags:
                LAG.observe(lag)
            if observe is not None:
                observe(lags)
        upcoming = await rider.call(lambda: next_due_from(container.pool, start))
        floor.reached(mark, upcoming)
    finally:
        floor.abandon(mark)  # a pass that ended without its look (the role stopping); nothing once it reached
    return len(due_times), upcoming


async def _sleep_until_due(container: SupervisionContainer, wake: asyncio.Event, at_most: float,
                           upcoming: datetime | None) -> None:
    clock = container.clock
    timeout = at_most
    if upcoming is not None and clock.speed > 0:
        timeout = min(at_most, max(0.0, (upcoming - clock.now()).total_seconds() / clock.speed))
    try:
        await asyncio.wait_for(wake.wait(), timeout=timeout)
    except TimeoutError:
        pass
    wake.clear()


def _instant(payload: object) -> datetime | None:
    """The trigger's epoch second; None (the start: always safe) for '' (-infinity) or anything unexpected."""
    try:
        return datetime.fromtimestamp(int(str(payload)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


async def _sweep(container: SupervisionContainer, stop: asyncio.Event, wake: asyncio.Event,
                 floor: DueFloor) -> None:
    rider = RideOut(stop=stop)
    try:
        while not stop.is_set():
            await first_of(stop, timeout=SWEEP_SECONDS)
            if stop.is_set():
                return
            lowest = await rider.call(lambda: next_due_from(container.pool, None))
            if lowest is None:
                continue
            if floor.at is not None and lowest < floor.at:
                log.warning("ticker_clock_below_floor", due=lowest.isoformat(), floor=floor.at.isoformat())
            if floor.lower(lowest):
                wake.set()
    except Stopped:
        return
