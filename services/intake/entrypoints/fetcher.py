"""The fetcher: the files a 12345 order or an Open311 request came with (their URLs), fetched in the background,
never in the request that brought them (service_layer/attachments.py `fetch_attachments`). Any number may run;
SKIP LOCKED shares the work, and each runs INTAKE_ATTACHMENTS_FETCH_CONCURRENCY fetches at once.

It polls: pending fetches are few (a partial index holds them), and a retry's backoff is a time in the table.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from services.intake.bootstrap import IntakeContainer
from services.intake.domain.commands import FetchAttachments
from shared.resilience import RideOut, Stopped

log = structlog.get_logger("fetcher")


async def run_fetcher(container: IntakeContainer, stop: asyncio.Event) -> None:
    settings = container.settings
    log.info("fetcher_started", poll_seconds=settings.attachments_fetch_poll_seconds,
             concurrency=settings.attachments_fetch_concurrency)
    await asyncio.gather(*(_fetch_loop(container, stop) for _ in range(settings.attachments_fetch_concurrency)))


async def _fetch_loop(container: IntakeContainer, stop: asyncio.Event) -> None:
    fetch = FetchAttachments(batch=10)
    rider = RideOut(stop=stop)  # Postgres away is waited out with backoff (shared/resilience.py), never an exit
    while not stop.is_set():
        try:
            tried = await rider.call(lambda: container.bus.handle(fetch))
        except Stopped:
            return
        if tried:
            log.info("attachments_fetched", tried=tried)
        if tried < fetch.batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), container.settings.attachments_fetch_poll_seconds)
