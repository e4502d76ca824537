"""Composition root of intake: the one place that wires pool, clock, units of work, the bus and its handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.intake.adapters.attachment_store import ObjectStoreBlobs
from services.intake.adapters.fetcher import GuardedFetcher
from services.intake.adapters.images import PillowProcessor
from services.intake.adapters.repository import CategoryCache
from services.intake.config import IntakeSettings
from services.intake.domain.attachments import AttachmentPolicy
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.service_layer.attachments import ATTACHMENT_HANDLERS, AttachmentServices
from services.intake.service_layer.group_commit import ReportCommitter
from services.intake.service_layer.handlers import BATCH_EVENT_HANDLERS, COMMAND_HANDLERS, EVENT_HANDLERS, ReportQueue
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork, PgIntakeUnitOfWork, PgReportUnitOfWork
from shared.calendar import WorkCalendar
from shared.db.pool import create_pool
from shared.egress import Egress, EgressPolicy
from shared.messagebus import MessageBus
from shared.messaging.topics import ASSIGNMENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "intake"


@dataclass(kw_only=True)
class IntakeContainer(ServiceContainer[IntakeSettings, IntakeUnitOfWork]):
    reports: ReportCommitter  # this process's group committer of new reports
    files: AttachmentServices  # attachments: caps, object store, image processing, URL fetcher


def message_bus(uow: Callable[[], IntakeUnitOfWork], *, reports: ReportQueue, duplicates: DuplicatePolicy,
                files: AttachmentServices | None = None, open311_dev_key: str = "", open311_per_minute: int = 30,
                calendar: WorkCalendar | None = None) -> MessageBus[IntakeUnitOfWork]:
    """Intake's bus; unit tests build it with fakes. The calendar is the national schedule, for intake's own rule
    of thumb (the window to return a signed case); supervision owns the overrides that clocks run on. Without
    `files` (a test about something else) the bus handles no attachment command; bootstrap always gives them."""
    handlers = {**COMMAND_HANDLERS, **(ATTACHMENT_HANDLERS if files is not None else {})}
    return MessageBus(uow, handlers, EVENT_HANDLERS, dependencies={
        "reports": reports, "duplicates": duplicates, "files": files, "open311_dev_key": open311_dev_key,
        "open311_per_minute": open311_per_minute, "calendar": calendar or WorkCalendar()},
        batch_events=BATCH_EVENT_HANDLERS)


def fetch_egress(settings: IntakeSettings) -> Egress:
    """Where attachment fetches may go: public addresses only, unless the settings open loopback and private ones
    (dev and test) or chosen networks. Plain http too: a photo carries no secret of ours."""
    return Egress(EgressPolicy(require_https=False, allow_local=settings.allows_local_fetches(),
                               networks=settings.fetch_networks()))


def attachment_services(settings: IntakeSettings, egress: Egress | None = None) -> AttachmentServices:
    return AttachmentServices(
        policy=AttachmentPolicy(max_bytes=settings.attachments_max_bytes,
                                max_per_case=settings.attachments_max_per_case,
                                max_pixels=settings.attachments_max_pixels),
        store=ObjectStoreBlobs.from_url(settings.attachments_url, settings.attachments_store_options),
        processor=PillowProcessor(),
        fetcher=GuardedFetcher(egress or fetch_egress(settings),
                               deadline_seconds=settings.attachments_fetch_timeout_seconds),
        fetch_max_attempts=settings.attachments_fetch_max_attempts,
        fetch_backoff=timedelta(seconds=settings.attachments_fetch_backoff_seconds))


async def bootstrap(settings: IntakeSettings) -> IntakeContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    categories = CategoryCache()
    duplicates = DuplicatePolicy(settings.duplicate_radius_m, timedelta(hours=settings.duplicate_window_hours))
    # The report committer's own connections, planning each statement once: its statements are fixed, and on the
    # API's pool (custom plans, for the searches' optional filters) the duplicate lookup was planned afresh for
    # every report, 475 µs a time (bench/README.md, session 30). min_size 0: only a process that takes reports
    # (an API) ever opens one.
    writes = await create_pool(settings.database_url, min_size=0, max_size=settings.report_committers,
                               generic_plans=True)
    reports = ReportCommitter(lambda: PgReportUnitOfWork(writes, clock, categories), duplicates,
                              max_batch=settings.report_batch_max, concurrency=settings.report_committers)
    files = attachment_services(settings)
    bus = message_bus(lambda: PgIntakeUnitOfWork(pool, clock, categories), reports=reports, duplicates=duplicates,
                      files=files, open311_dev_key=settings.open311_dev_key.get_secret_value(),
                      open311_per_minute=settings.open311_requests_per_minute)
    return IntakeContainer(name=NAME, settings=settings, pool=pool, clock=clock, bus=bus, consumes=[ASSIGNMENTS],
                           tasks=tasks, closers=[reports.close, files.fetcher.close, writes.close], reports=reports,
                           files=files)
