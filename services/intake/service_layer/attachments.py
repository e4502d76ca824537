"""Attachments: an upload stored with its case, and the background fetch of the URLs a case came with.

The ports (what these handlers need from the outside world) are Protocols here, met by adapters/attachment_store.py
(obstore: a local directory or any S3-compatible store), adapters/images.py (Pillow: decode, thumbnail, re-encode
without EXIF) and adapters/fetcher.py (HTTP through shared/egress.py), and by in-memory fakes in unit tests;
bootstrap.py hands them to the bus as one `AttachmentServices`.

Bytes go to the store before the row that points at them is committed, so a row never points at nothing; a
crash between the two leaves bytes no row names (harmless, and found by listing the store against the table).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import structlog

from services.intake.domain import commands as c
from services.intake.domain.attachments import (
    Attachment,
    AttachmentPolicy,
    AttachmentStatus,
    MediaType,
    PhotoMetadata,
    UploadKey,
    clean_filename,
)
from services.intake.domain.errors import IdempotencyConflict, IncidentNotFound
from services.intake.service_layer.handlers import _load_visible
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork
from shared.errors import DomainError
from shared.ids import time_ordered_id
from shared.messagebus import Command

log = structlog.get_logger("attachments")


@dataclass(frozen=True)
class Processed:
    """A file made ready to serve: a photo re-encoded without its EXIF (and turned upright), its thumbnail and
    what its EXIF said; a PDF as it came."""

    served: bytes
    thumbnail: bytes | None
    metadata: PhotoMetadata | None


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, media_type: str) -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; BlobMissing when there is none."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove these objects (one that is already gone is no error)."""
        ...


class FileProcessor(Protocol):
    async def process(self, media_type: MediaType, data: bytes, policy: AttachmentPolicy) -> Processed:
        """UnreadableFile (422) when the bytes are not what their first bytes said, or too many pixels."""
        ...


class UrlFetcher(Protocol):
    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """The body of a GET of `url`, at most `max_bytes`; FetchFailed otherwise."""
        ...

    async def close(self) -> None: ...


class FetchFailed(Exception):
    """A URL that gave us no file: `permanent` when trying again cannot help (refused address, 404, too large)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class BlobMissing(Exception):
    """The store has no object by that key."""


class StoreUnavailable(DomainError):
    """The object store could not be written or read just now (503; try again)."""

    status = 503
    title = "Service Unavailable"

    def __init__(self, detail: str = "the attachment store is unavailable; try again shortly") -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": "5"}


@dataclass(frozen=True)
class AttachmentServices:
    """What the attachment handlers use besides the unit of work (built in bootstrap.py)."""

    policy: AttachmentPolicy
    store: BlobStore
    processor: FileProcessor
    fetcher: UrlFetcher
    fetch_max_attempts: int = 5
    fetch_backoff: timedelta = timedelta(seconds=30)


async def attach_file(cmd: c.AttachFile, uow: IntakeUnitOfWork, files: AttachmentServices
                      ) -> tuple[Attachment, bool]:
    """Store an uploaded file with its case: judged (size 413, type 415), checked against the case (who may attach,
    how many it holds), made ready (a photo re-encoded without its EXIF, a thumbnail), put in the store, then
    recorded with the case's timeline and its `attached` event in one transaction. With an Idempotency-Key, the
    same file sent again returns the attachment the first request stored; another file under it is a 409."""
    media_type = files.policy.judge(cmd.data)
    key = UploadKey.of(cmd.actor.sub, cmd.idempotency_key, cmd.incident_id, cmd.filename, cmd.data) \
        if cmd.idempotency_key else None
    # The cheap refusals first, before any decoding: the case, the caller, a resend, the room left.
    async with uow:
        earlier = await _earlier_upload(uow, key)
        if earlier is not None:
            return earlier, False
        incident = await _load_visible(uow, cmd.incident_id, cmd.actor)
        incident.check_attach(cmd.actor)
        files.policy.check_room(await uow.attachments.held(incident.id))
    processed = await files.processor.process(media_type, cmd.data, files.policy)
    now = uow.clock.now()
    attachment = Attachment(id=time_ordered_id(), incident_id=cmd.incident_id, origin="upload",
                            status=AttachmentStatus.PENDING, created_at=now, created_by=cmd.actor.sub,
                            filename=clean_filename(cmd.filename), upload_key=key)
    attachment.store(media_type, cmd.data, len(processed.served), processed.metadata,
                     processed.thumbnail is not None, now)
    keys = await _put(files.store, attachment, processed)
    try:
        async with uow:  # again, under the case's lock: what was true a moment ago may not be now
            incident = await _load_visible(uow, cmd.incident_id, cmd.actor)
            earlier = await _earlier_upload(uow, key)
            if earlier is not None:  # a concurrent resend stored it first
                await files.store.delete(keys)
                return earlier, False
            incident.check_attach(cmd.actor)
            files.policy.check_room(await uow.attachments.held(incident.id))
            if not await uow.attachments.add(attachment):  # the key was taken meanwhile, by an upload to another case
                raise IdempotencyConflict(cmd.idempotency_key or "")
            incident.attach(attachment, cmd.actor.sub, now)
            await uow.incidents.save(incident)
            uow.collect(incident)
            await uow.commit()
    except BaseException:
        await _forget(files.store, keys)  # no row names them
        raise
    return attachment, True


async def _earlier_upload(uow: IntakeUnitOfWork, key: UploadKey | None) -> Attachment | None:
    if key is None:
        return None
    earlier = await uow.attachments.by_key(key.scope, key.key)
    if earlier is None:
        return None
    if earlier.upload_key is None or earlier.upload_key.fingerprint != key.fingerprint:
        raise IdempotencyConflict(key.key)
    return earlier


async def _put(store: BlobStore, attachment: Attachment, processed: Processed) -> list[str]:
    """Put the served bytes and the thumbnail; the keys written (all or, on a failure, none: StoreUnavailable)."""
    assert attachment.media_type is not None
    written: list[str] = []
    try:
        await store.put(attachment.object_key, processed.served, attachment.media_type.value)
        written.append(attachment.object_key)
        if processed.thumbnail is not None:
            await store.put(attachment.thumbnail_key, processed.thumbnail, MediaType.JPEG.value)
            written.append(attachment.thumbnail_key)
    except StoreUnavailable:
        await _forget(store, written)
        raise
    return written


async def _forget(store: BlobStore, keys: list[str]) -> None:
    if not keys:
        return
    try:
        await store.delete(keys)
    except StoreUnavailable as exc:  # left behind, named by no row: harmless
        log.warning("attachment_bytes_left_behind", keys=keys, error=str(exc))


async def fetch_attachments(cmd: c.FetchAttachments, uow: IntakeUnitOfWork, files: AttachmentServices) -> int:
    """Fetch the attachments whose URL is due, one at a time (each under its own lock, SKIP LOCKED, so any number
    of fetchers share the work): stored with the case's timeline and `attached` event like an upload, or, when
    the URL gives no file we take, tried again later with a backoff, and in the end marked failed with the reason
    (and a timeline entry). A failure is recorded, never raised: one bad URL stops nothing."""
    tried = 0
    while tried < cmd.batch:
        async with uow:
            due = await uow.attachments.claim_due(uow.clock.now(), 1)
            if not due:
                break
            attachment = due[0]
            attachment.attempts += 1
            failure = await _fetch_one(attachment, uow, files)
            if failure is not None:
                reason, permanent = failure
                now = uow.clock.now()
                gave_up = attachment.fetch_failed(reason, permanent=permanent, at=now,
                                                  max_attempts=files.fetch_max_attempts, backoff=files.fetch_backoff)
                log.info("attachment_fetch_failed", attachment_id=str(attachment.id), attempt=attachment.attempts,
                         gave_up=gave_up, reason=reason)
                if gave_up:
                    incident = await uow.incidents.get(attachment.incident_id)
                    if incident is None:
                        raise IncidentNotFound(attachment.incident_id)  # the row references it: a bug if so
                    incident.attachment_failed(attachment, now)
                    await uow.incidents.save(incident)
            await uow.attachments.save(attachment)
            await uow.commit()
        tried += 1
    return tried


async def _fetch_one(attachment: Attachment, uow: IntakeUnitOfWork, files: AttachmentServices
                     ) -> tuple[str, bool] | None:
    """Fetch, judge, process and store one; None when stored, else (reason, permanent)."""
    assert attachment.source_url is not None
    try:
        data = await files.fetcher.fetch(attachment.source_url, files.policy.max_bytes)
        media_type = files.policy.judge(data)
        processed = await files.processor.process(media_type, data, files.policy)
    except FetchFailed as exc:
        return exc.reason, exc.permanent
    except DomainError as exc:  # too large, not a type we take, unreadable: the same bytes would come again
        return exc.detail, True
    except Exception as exc:  # noqa: BLE001 - a file that breaks the image code: recorded, so it cannot stop the fetcher
        log.error("attachment_processing_failed", attachment_id=str(attachment.id), exc_info=exc)
        return f"the file could not be processed ({type(exc).__name__})", True
    now = uow.clock.now()
    stored = dataclasses.replace(attachment)
    stored.store(media_type, data, len(processed.served), processed.metadata, processed.thumbnail is not None, now)
    try:
        await _put(files.store, stored, processed)
    except StoreUnavailable as exc:  # our store's trouble, not the URL's: try again
        return exc.detail, False
    attachment.store(media_type, data, len(processed.served), processed.metadata, processed.thumbnail is not None,
                     now)
    incident = await uow.incidents.get(attachment.incident_id)
    if incident is None:
        raise IncidentNotFound(attachment.incident_id)
    incident.attach(attachment, attachment.origin, now)
    await uow.incidents.save(incident)
    uow.collect(incident)
    return None


ATTACHMENT_HANDLERS: dict[type[Command[Any]], Callable[..., Awaitable[Any]]] = {
    c.AttachFile: attach_file,
    c.FetchAttachments: fetch_attachments,
}
