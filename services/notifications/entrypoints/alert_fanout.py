"""The centre's live alert stream (SSE, GET /v1/alerts/stream), served from one fan-out per process.

One task reads the alert table (a poll every `sse_poll_seconds`, and only while someone listens) and hands each
new row to the streams whose caller's area holds it; a stream never queries the table on its own, except once
when it opens, to send what its client missed:

- `published` is the fan-out's high-water mark: every alert up to it has been handed out. A stream opened with
  Last-Event-ID n registers first (taking `published` as its `joined_at`), then reads (n, joined_at] from the
  database, then its queue, which holds only alerts after `joined_at`: no gap, no duplicate (an alert at or
  before the last one sent is skipped, for a client that saw more than this process has).
- Ids come from a sequence and are taken when a row is inserted, not when it commits: id 11 may be visible
  before id 10. So the fan-out hands out in id order and waits at a hole; a hole still open after
  `sse_gap_grace_seconds` is taken for an id that will never come (a rolled back insert, a duplicate event's
  ON CONFLICT) and passed.
- A stream whose queue is full (a client that does not read) is ended after what it holds; its client
  reconnects with Last-Event-ID and catches up from the database.
- Streams are capped per caller (`sse_max_streams_per_caller`) and per process (`sse_max_streams`): 429 with
  Retry-After beyond.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from sse_starlette.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from services.notifications import views
from shared.actor import covers
from shared.errors import TooManyRequests
from shared.resilience import RideOut

log = structlog.get_logger("alert_fanout")

# The highest id when the fan-out starts: streams opening then catch up to it from the database.
LAST_ALERT_ID = "SELECT coalesce(max(id), 0) FROM alert"
RETRY_AFTER_SECONDS = 5


class TooManyStreams(TooManyRequests):
    """Past the caller's or the process's cap of open alert streams (429)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retry_after=RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class Alert:
    """One row of the alert table as the stream sends it (the event's name and data as they always were)."""

    id: int
    grid_code: str | None
    event: dict[str, str]

    @classmethod
    def of(cls, row: dict[str, Any]) -> Alert:
        data = json.dumps({"incident_id": str(row["incident_id"]), "grid_code": row["grid_code"], **row["payload"]},
                          ensure_ascii=False, default=str)
        return cls(row["id"], row["grid_code"], {"id": str(row["id"]), "event": row["event_type"], "data": data})


class Subscription:
    """One open stream: its caller, its area, where its client was (`after`) and where it joined the fan-out."""

    def __init__(self, fanout: AlertFanout, sub: str, area: tuple[str, ...], after: int, joined_at: int) -> None:
        self.fanout = fanout
        self.sub = sub
        self.area = area
        self.after = after
        self.joined_at = joined_at
        self.pending: collections.deque[Alert] = collections.deque()
        self.wake = asyncio.Event()
        self.ended = False  # fell behind, or the process stops: end once the pending alerts are sent
        self.closed = False

    def sees(self, alert: Alert) -> bool:
        return covers(self.area, alert.grid_code)

    def offer(self, alert: Alert) -> None:
        if self.ended or not self.sees(alert):
            return
        if len(self.pending) >= self.fanout.buffer:
            log.info("alert_stream_fell_behind", sub=self.sub, pending=len(self.pending))
            self.end()
            return
        self.pending.append(alert)
        self.wake.set()

    def end(self) -> None:
        self.ended = True
        self.wake.set()

    def close(self) -> None:
        """Give the stream's slot back (idempotent: the generator and the response both call it)."""
        if not self.closed:
            self.closed = True
            self.fanout.leave(self)

    async def events(self) -> AsyncIterator[dict[str, str]]:
        last = self.after
        try:
            # What the client missed, from the database, up to where the fan-out took over.
            while last < self.joined_at:
                rows = [row for row in await views.alerts_after(self.fanout.pool, last, self.fanout.page)
                        if row["id"] <= self.joined_at]
                if not rows:
                    break
                for row in rows:
                    last = row["id"]
                    alert = Alert.of(row)
                    if self.sees(alert):
                        yield alert.event
            last = max(last, self.joined_at)
            # Then the live alerts of the one fan-out.
            while True:
                while self.pending:
                    alert = self.pending.popleft()
                    if alert.id > last:
                        last = alert.id
                        yield alert.event
                if self.ended:
                    return
                self.wake.clear()
                await self.wake.wait()
        finally:
            self.close()


class AlertStreamResponse(EventSourceResponse):
    """The SSE response of one subscription: its slot is given back however the response ends (even if the
    client went away before the first event, when the generator never started)."""

    def __init__(self, subscription: Subscription, ping: int = 15) -> None:
        super().__init__(subscription.events(), ping=ping)
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()


class AlertFanout:
    """The one reader of the alert table in a process, and the streams it feeds."""

    def __init__(self, *, poll_seconds: float = 0.25, gap_grace_seconds: float = 2.0, max_per_caller: int = 3,
                 max_streams: int = 200, buffer: int = 1000, page: int = 500) -> None:
        self.poll_seconds = poll_seconds
        self.gap_grace_seconds = gap_grace_seconds
        self.max_per_caller = max_per_caller
        self.max_streams = max_streams
        self.buffer = buffer
        self.page = page
        self.published = 0
        self._pool: asyncpg.Pool | None = None
        self._subscriptions: set[Subscription] = set()
        self._per_caller: collections.Counter[str] = collections.Counter()
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._wake = asyncio.Event()
        self._hole_since: float | None = None  # when the hole after `published` was first seen
        self.polls = 0  # database reads of the fan-out (tests and metrics)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the alert fan-out is not bound to a pool (bind it when the app starts)")
        return self._pool

    def bind(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def streams(self) -> int:
        return len(self._subscriptions)

    def _check_room(self, sub: str) -> None:
        if self._per_caller[sub] >= self.max_per_caller:
            raise TooManyStreams(f"at most {self.max_per_caller} open alert streams per caller; close one first")
        if len(self._subscriptions) >= self.max_streams:
            raise TooManyStreams(f"this server holds its {self.max_streams} alert streams; try again shortly")

    async def subscribe(self, sub: str, area: Iterable[str], after: int) -> Subscription:
        """Open a stream for `sub` over `area`, from the alert after `after` (429 past a cap)."""
        self._check_room(sub)
        await self._start()
        self._check_room(sub)  # again: others may have joined while the fan-out started
        subscription = Subscription(self, sub, tuple(area), after, joined_at=self.published)
        self._subscriptions.add(subscription)
        self._per_caller[sub] += 1
        self._wake.set()
        return subscription

    def leave(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._per_caller[subscription.sub] -= 1
            if self._per_caller[subscription.sub] <= 0:
                del self._per_caller[subscription.sub]

    async def _start(self) -> None:
        async with self._starting:
            if self._task is None:
                self.published = await self.pool.fetchval(LAST_ALERT_ID)
                self._task = asyncio.create_task(self._run(), name="alert-fanout")

    async def close(self) -> None:
        """Stop reading and end every stream (when the process stops)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for subscription in list(self._subscriptions):
            subscription.end()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rider = RideOut()  # the database away: one line per outage, backoff (shared/resilience.py)
        while True:
            if not self._subscriptions:  # nobody listens: no reads (streams opening later catch up themselves)
                self._wake.clear()
                await self._wake.wait()
            try:
                rows = await views.alerts_after(self.pool, self.published, self.page)
                self.polls += 1
                handed = self.hand_out([Alert.of(row) for row in rows], loop.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream must outlive a database hiccup
                if not await rider.failed(exc):
                    log.warning("alert_fanout_read_failed", error=str(exc))
                    await asyncio.sleep(max(1.0, self.poll_seconds))
                continue
            rider.succeeded()
            if not (handed and len(rows) == self.page):  # a full page handed out: read on at once
                await asyncio.sleep(self.poll_seconds)

    def hand_out(self, alerts: list[Alert], now: float) -> int:
        """Hand the alerts after `published` to the streams in id order, up to a hole younger than the grace
        (an id taken by a transaction not yet committed); returns how many were handed out."""
        handed = 0
        for alert in alerts:
            if alert.id <= self.published:
                continue
            if alert.id != self.published + 1:
                if self._hole_since is None:
                    self._hole_since = now
                if now - self._hole_since < self.gap_grace_seconds:
                    break
            for subscription in list(self._subscriptions):
                subscription.offer(alert)
            self.published = alert.id
            self._hole_since = None
            handed += 1
        return handed
