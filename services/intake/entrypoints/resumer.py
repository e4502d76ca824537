"""The resumer: ends each 挂起 whose `until` has come (DOMAIN §4: `until` reached, by the system). Any number
may run; SKIP LOCKED shares the work.

It polls: suspended cases are few (a partial index holds them), and under the virtual clock a jump of days is
seen at the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from services.intake.bootstrap import IntakeContainer
from services.intake.domain.commands import ResumeDueSuspensions
from shared.resilience import RideOut, Stopped

log = structlog.get_logger("resumer")


async def run_resumer(container: IntakeContainer, stop: asyncio.Event) -> None:
    settings = container.settings
    resume = ResumeDueSuspensions(batch=settings.resume_batch)
    log.info("resumer_started", poll_seconds=settings.resume_poll_seconds)
    rider = RideOut(stop=stop)  # Postgres away is waited out with backoff (shared/resilience.py), never an exit
    while not stop.is_set():
        try:
            resumed = await rider.call(lambda: container.bus.handle(resume))
        except Stopped:
            return
        if resumed:
            log.info("suspensions_ended", count=resumed)
        if resumed < resume.batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.resume_poll_seconds)
