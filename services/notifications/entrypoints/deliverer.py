"""The deliverer: sends pending deliveries. Any number may run; SKIP LOCKED shares the work.

A new delivery due at once wakes it (LISTEN delivery, a hint sent at commit); the short poll is what
guarantees progress, and what picks up held and retried deliveries when their time comes.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from services.notifications.bootstrap import NotificationsContainer
from services.notifications.domain.commands import DeliverDue

log = structlog.get_logger("deliverer")
WAKE_CHANNEL = "delivery"


async def run_deliverer(container: NotificationsContainer, stop: asyncio.Event,
                        idle_seconds: float = 0.2) -> None:
    """Deliver until `stop`: a pass through the bus, then (unless the batch was full) wait for a hint or the poll.
    (Typed by what it uses, so shared/cli.py's workers can take it.)"""
    s = container.settings
    deliver = DeliverDue(batch=s.deliver_batch, concurrency=s.deliver_concurrency)
    wake = asyncio.Event()

    def hint(*_: object) -> None:
        wake.set()

    listener = await container.pool.acquire()
    await listener.add_listener(WAKE_CHANNEL, hint)
    log.info("deliverer_started")
    try:
        while not stop.is_set():
            wake.clear()
            try:
                sent = await container.bus.handle(deliver)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
                log.warning("deliverer_db_unavailable", error=str(exc))
                sent = 0
            if sent < s.deliver_batch:
                await _first_of(wake, stop, idle_seconds)
    finally:
        try:
            await listener.remove_listener(WAKE_CHANNEL, hint)
        finally:
            await container.pool.release(listener)


async def _first_of(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
