"""Group commit of reports: the reports arriving while a write is under way go into the next one together.

A durable report costs a commit (an fsync) and round trips to Postgres; done one by one that capped intake far
below what its HTTP layer can take. Here each API process keeps one committer (or a few); it takes every report
waiting (up to a batch) and runs them through `report_incidents`, which writes them all in ONE statement, then
answers each request. Under light load a batch is a single report and waits for nothing; under heavy load
batches grow by themselves. Every guarantee of the single path holds: a report is answered only once its case,
timeline, idempotency key and outbox row are committed; a refused report fails only itself; and if the write
fails, nothing of the batch was written and it is taken again one report at a time, so no report fails for
another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from prometheus_client import Histogram

from services.intake.domain.commands import ReportIncident
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.domain.model import Incident
from services.intake.service_layer.handlers import Outcome, report_incidents
from services.intake.service_layer.unit_of_work import ReportUnitOfWork

log = structlog.get_logger("group_commit")

Pending = tuple[ReportIncident, "asyncio.Future[Incident]"]
BATCH_SIZE = Histogram("intake_report_batch_size", "Reports committed together in one transaction",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


class ReportCommitter:
    def __init__(self, uow: Callable[[], ReportUnitOfWork], duplicates: DuplicatePolicy, *, max_batch: int = 64,
                 concurrency: int = 1) -> None:
        self._uow = uow
        self._duplicates = duplicates
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self.batches = 0  # counters for tests and the benchmark's notes
        self.reports = 0

    async def submit(self, report: ReportIncident) -> Incident:
        """The report's case once committed (or its earlier case); raises what refused it."""
        if self._closed:
            raise RuntimeError("the report committer is closed")
        if not self._workers:  # started on first use, inside the serving event loop
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        future: asyncio.Future[Incident] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((report, future))
        # A client that hangs up cancels only its wait: the report is still committed (and a resend with the
        # same Idempotency-Key finds it).
        return await future

    async def close(self) -> None:
        """Stop taking reports; the ones still queued are refused, never half-written."""
        self._closed = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("intake is shutting down; the report was not taken"))

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[Pending]) -> None:
        reports = [report for report, _ in batch]
        outcomes: list[Outcome | BaseException]
        try:
            outcomes = list(await report_incidents(reports, self._uow(), self._duplicates))
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError("intake is shutting down; the report was not taken"))
            raise
        except Exception as exc:  # noqa: BLE001 - nothing was written; each report is tried alone below
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning("group_commit_failed_alone_each", reports=len(batch), error=repr(exc))
                outcomes = [await self._alone(report) for report in reports]
        self.batches += 1
        self.reports += len(batch)
        BATCH_SIZE.observe(len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _alone(self, report: ReportIncident) -> Outcome | BaseException:
        try:
            [outcome] = await report_incidents([report], self._uow(), self._duplicates)
            return outcome
        except Exception as exc:  # noqa: BLE001 - this report's own failure, answered to its own request
            return exc
