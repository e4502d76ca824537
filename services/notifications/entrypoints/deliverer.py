"""The deliverer: sends pending deliveries. Any number may run; SKIP LOCKED shares the work.

A new delivery due at once wakes it (LISTEN delivery, a hint sent at commit), and it waits COALESCE_MS for the ones
that follow before its pass; the short poll is what guarantees progress, and what picks up held and retried
deliveries when their time comes.
"""

from __future__ import annotations

import asyncio

import structlog

from services.notifications.bootstrap import NotificationsContainer
from services.notifications.domain.commands import DeliverDue
from shared.resilience import RideOut, Stopped, first_of, listen

log = structlog.get_logger("deliverer")
WAKE_CHANNEL = "delivery"


async def run_deliverer(container: NotificationsContainer, stop: asyncio.Event,
                        idle_seconds: float = 0.2) -> None:
    """Deliver until `stop`: a pass through the bus, then (unless the batch was full) wait for a hint or the poll.
    Postgres away (a restart, its recovery, a dropped connection) is waited out with backoff, in the passes and in
    the LISTEN (shared/resilience.py): the deliverer never ends because of it.
    (Typed by what it uses, so shared/cli.py's workers can take it.)"""
    s = container.settings
    deliver = DeliverDue(batch=s.deliver_batch, concurrency=s.deliver_concurrency)
    wake = asyncio.Event()

    def hint(*_: object) -> None:
        wake.set()

    listening = asyncio.create_task(listen(container.pool, WAKE_CHANNEL, hint, stop))
    rider = RideOut(stop=stop)
    log.info("deliverer_started")
    try:
        while not stop.is_set():
            wake.clear()
            sent = await rider.call(lambda: container.bus.handle(deliver))
            if sent < s.deliver_batch:
                await first_of(wake, stop, timeout=idle_seconds)
                if wake.is_set() and s.coalesce_ms:
                    await first_of(stop, timeout=s.coalesce_ms / 1000)  # the deliveries that follow it, in one pass
    except Stopped:
        pass
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
