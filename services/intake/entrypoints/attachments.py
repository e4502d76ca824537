"""A case's attachments over HTTP: upload (multipart), list, and the bytes and thumbnail, to callers who may read
the case (another area's case is 404, as for the case itself; an upload to it is 403, as for an action).

The upload route may receive a larger body than the 1 MB of every other route (`larger_bodies` in http.py: the
file cap and room for the multipart framing). The caller is checked before a byte of the body is read, so a
request without a valid token never makes the process read more than nothing; the file's own cap (413), its type
(415, from its bytes) and the case's room (409) are the domain's (domain/attachments.py).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from services.intake.domain import commands as c
from services.intake.domain.attachments import Attachment, AttachmentStatus, MediaType, served_name
from services.intake.entrypoints import schemas as s
from services.intake.entrypoints.deps import IntakeApp
from services.intake.service_layer.attachments import BlobMissing
from services.intake.views import attachment_of, attachments_of, case_visibility, visible_to
from shared.auth import Caller, Principal
from shared.problems import Problem, problems

log = structlog.get_logger("attachments")
PATH = "/v1/incidents/{incident_id}/attachments"
# Room for the multipart framing (boundaries, part headers) around the file, beyond the file's own cap.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_OPENAPI: dict[str, Any] = {
    "parameters": [s.IDEMPOTENCY_HEADER],
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {
            "type": "string", "format": "binary",
            "description": "a JPEG, PNG or WebP photo or a PDF (judged by its bytes), at most "
                           "INTAKE_ATTACHMENTS_MAX_BYTES (10 MB by default)"}}}}}},
}
SERVED: dict[int | str, dict[str, Any]] = {200: {"description": "the file (a photo without its EXIF)", "content": {
    "image/jpeg": {}, "image/png": {}, "image/webp": {}, "application/pdf": {}}}}
THUMBNAIL: dict[int | str, dict[str, Any]] = {200: {"description": "a JPEG thumbnail",
                                                    "content": {"image/jpeg": {}}}}


def upload_limit(max_file_bytes: int) -> int:
    """The body limit of the upload route (`larger_bodies`)."""
    return max_file_bytes + MULTIPART_OVERHEAD


def build_attachments_router() -> APIRouter:
    router = APIRouter(prefix=PATH, tags=["attachments"])

    @router.post("", status_code=201, response_model=s.AttachmentOut, openapi_extra=UPLOAD_OPENAPI,
                 responses=problems(403, 404, 409, 413, 415, 503))
    async def upload(incident_id: uuid.UUID, request: Request, caller: Caller, container: IntakeApp) -> Response:
        """Attach a photo or PDF to the case (its owners; grid workers and the centre of its area). With an
        Idempotency-Key, a resend of the same file answers with the attachment the first one stored."""
        key = s.idempotency_key(request.headers)
        data, filename = await _the_file(request)
        attachment, created = await container.bus.handle(c.AttachFile(
            incident_id=incident_id, actor=caller, data=data, filename=filename, idempotency_key=key))
        headers = {"Location": f"/v1/incidents/{incident_id}/attachments/{attachment.id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(s.attachment_out(attachment).model_dump_json(), status_code=201,
                        media_type="application/json", headers=headers)

    @router.get("", response_model=list[s.AttachmentOut], responses=problems(404))
    async def list_attachments(incident_id: uuid.UUID, caller: Caller, container: IntakeApp) -> list[s.AttachmentOut]:
        """The case's attachments with their metadata (EXIF capture time and GPS of photos, for 核查)."""
        await _readable_case(container, caller, incident_id)
        return [s.attachment_out(a) for a in await attachments_of(container.pool, incident_id)]

    @router.get("/{attachment_id}", response_class=Response, responses={**SERVED, **problems(404)})
    async def download(incident_id: uuid.UUID, attachment_id: uuid.UUID, request: Request, caller: Caller,
                       container: IntakeApp) -> Response:
        attachment = await _stored(container, caller, incident_id, attachment_id)
        return await _serve(request, container, attachment, thumbnail=False)

    @router.get("/{attachment_id}/thumbnail", response_class=Response, responses={**THUMBNAIL, **problems(404)})
    async def thumbnail(incident_id: uuid.UUID, attachment_id: uuid.UUID, request: Request, caller: Caller,
                        container: IntakeApp) -> Response:
        attachment = await _stored(container, caller, incident_id, attachment_id)
        if not attachment.has_thumbnail:
            raise Problem(404, f"attachment {attachment_id} has no thumbnail (a PDF has none)")
        return await _serve(request, container, attachment, thumbnail=True)

    return router


async def _the_file(request: Request) -> tuple[bytes, str | None]:
    """The one file of a multipart upload (the part named `file`) and the name the client gave it."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise Problem(415, "send the file as multipart/form-data, in a part named `file`")
    form = await request.form(max_files=1, max_fields=4)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Problem(422, "no file: send it in a multipart part named `file`",
                          errors=[{"field": "file", "message": "missing", "type": "missing"}])
        return await part.read(), part.filename
    finally:
        await form.close()


async def _readable_case(container: IntakeApp, caller: Principal, incident_id: uuid.UUID) -> None:
    case = await case_visibility(container.pool, incident_id)
    if case is None or not visible_to(caller, case):
        raise Problem(404, f"no incident {incident_id}")


async def _stored(container: IntakeApp, caller: Principal, incident_id: uuid.UUID,
                  attachment_id: uuid.UUID) -> Attachment:
    await _readable_case(container, caller, incident_id)
    attachment = await attachment_of(container.pool, incident_id, attachment_id)
    if attachment is None:
        raise Problem(404, f"no attachment {attachment_id} on incident {incident_id}")
    if attachment.status is not AttachmentStatus.STORED:
        raise Problem(404, f"attachment {attachment_id} has no file: it is {attachment.status.value}"
                           + (f" ({attachment.error})" if attachment.error else ""))
    return attachment


async def _serve(request: Request, container: IntakeApp, attachment: Attachment, *, thumbnail: bool) -> Response:
    """The bytes, as what they are and nothing else: the type we sniffed (never one a browser guesses), inline for
    photos and as a download for PDFs, kept only in the caller's own cache (the bytes of an id never change)."""
    tag = f'"{attachment.id}{"-thumb" if thumbnail else ""}"'
    headers = {"ETag": tag, "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox", "Cross-Origin-Resource-Policy": "same-origin"}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = attachment.thumbnail_key if thumbnail else attachment.object_key
    try:
        data = await container.files.store.get(key)
    except BlobMissing:
        log.error("attachment_bytes_missing", attachment_id=str(attachment.id), key=key)
        raise Problem(404, f"the file of attachment {attachment.id} is missing from the store") from None
    media_type = MediaType.JPEG if thumbnail else attachment.media_type or MediaType.PDF
    name = served_name(attachment)
    if thumbnail:
        name = name.rsplit(".", 1)[0] + ".thumb.jpg"
    disposition = "inline" if media_type.is_image else "attachment"
    headers["Content-Disposition"] = f"{disposition}; {_filename_parameters(name)}"
    return Response(data, media_type=media_type.value, headers=headers)


def _filename_parameters(name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (a Chinese file name survives in every browser)."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;' else "_" for ch in name)
    return f'filename="{fallback}"; filename*=UTF-8\'\'{quote(name, safe="")}'
