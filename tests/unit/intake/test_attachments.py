"""Attachments without sockets: what is taken (sniffed from the bytes), the caps, a photo's EXIF read as metadata
and stripped from what is served, and the handlers (upload, its Idempotency-Key, who may attach, a 办结 naming its
photos, the background fetch of a 12345 order's URLs) over the in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.intake.adapters.images import process_image
from services.intake.domain import commands as c
from services.intake.domain.attachments import (
    CHINA_TIME,
    AttachmentPolicy,
    AttachmentStatus,
    MediaType,
    clean_filename,
    photo_metadata,
    sniff,
)
from services.intake.domain.errors import (
    AttachmentTooLarge,
    IdempotencyConflict,
    IllegalTransition,
    InvalidRequest,
    NotPermitted,
    TooManyAttachments,
    UnreadableFile,
    UnsupportedMedia,
)
from services.intake.service_layer.attachments import FetchFailed
from shared.events.routing import IncidentAssigned, Owner
from tests.support import handle
from tests.unit.intake.fakes import NOW, POLICY, FakeIntake, report
from tests.unit.intake.images import (
    CAMERA,
    HEIC,
    HTML,
    LAT,
    LON,
    PDF,
    XMP,
    gps_exif,
    gps_photo,
    huge_declared_png,
    opened,
    photo,
)

GRID = "320508019044001"
OWNER = Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
WORKER = c.Actor("w1", "gridworker", (GRID,), "g-1")
NEIGHBOUR = c.Actor("w2", "gridworker", ("320508019044002",), "g-2")
SUPERVISOR = c.Actor("sup", "supervisor", ("320508",))


# ---- sniffing: the bytes say what a file is ----------------------------------------------------------------------


@pytest.mark.parametrize("data, media_type", [
    (photo(fmt="JPEG"), MediaType.JPEG), (photo(fmt="PNG"), MediaType.PNG), (photo(fmt="WEBP"), MediaType.WEBP),
    (PDF, MediaType.PDF)])
def test_the_type_is_read_from_the_bytes(data, media_type):
    assert sniff(data) is media_type


@pytest.mark.parametrize("data", [HTML, b"GIF89a\x01\x00\x01\x00", b"PK\x03\x04 a zip", b"\x00" * 40,
                                  b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_anything_else_is_415_whatever_it_is_called(data):
    with pytest.raises(UnsupportedMedia) as refused:
        AttachmentPolicy().judge(data)
    assert refused.value.status == 415 and "content" in refused.value.detail


def test_heic_is_recognised_and_refused_with_what_to_do_instead():
    with pytest.raises(UnsupportedMedia) as refused:
        sniff(HEIC)
    assert refused.value.status == 415
    assert "HEIC" in refused.value.detail and "JPEG" in refused.value.detail
    assert refused.value.extensions == {"detected": "image/heic"}


# ---- caps ---------------------------------------------------------------------------------------------------------


def test_a_file_over_the_size_cap_is_413_and_an_empty_one_422():
    policy = AttachmentPolicy(max_bytes=1000)
    with pytest.raises(AttachmentTooLarge) as refused:
        policy.judge(b"\xff\xd8\xff" + b"\x00" * 1000)
    assert refused.value.status == 413 and refused.value.extensions["max_bytes"] == 1000
    assert policy.judge(b"\xff\xd8\xff" + b"\x00" * 997) is MediaType.JPEG  # exactly at the cap is taken
    with pytest.raises(InvalidRequest):
        policy.judge(b"")


def test_a_case_holds_at_most_the_cap():
    policy = AttachmentPolicy(max_per_case=2)
    policy.check_room(1)
    with pytest.raises(TooManyAttachments) as refused:
        policy.check_room(2)
    assert refused.value.status == 409


def test_an_image_declaring_too_many_pixels_is_refused_before_it_is_decoded():
    with pytest.raises(UnreadableFile, match="pixels"):
        process_image(MediaType.PNG, huge_declared_png(5000, 5000), POLICY)  # 25 M > the fakes' 4 M
    with pytest.raises(UnreadableFile, match="pixels"):  # past Pillow's own ceiling, refused just as clearly
        process_image(MediaType.PNG, huge_declared_png(30_000, 30_000), POLICY)


def test_bytes_that_start_like_a_jpeg_and_are_not_one_are_422():
    truncated = photo(fmt="JPEG")[:200]
    with pytest.raises(UnreadableFile) as refused:
        process_image(MediaType.JPEG, truncated, POLICY)
    assert refused.value.status == 422
    with pytest.raises(UnreadableFile):  # sniffed as PNG, opened as PNG only: a JPEG's body is not taken for it
        process_image(MediaType.PNG, photo(fmt="JPEG"), POLICY)


# ---- a photo's EXIF: kept as metadata, stripped from what is served ------------------------------------------------


def test_capture_time_gps_and_camera_are_read_from_exif():
    served = process_image(MediaType.JPEG, gps_photo(), POLICY)
    meta = served.metadata
    assert meta is not None
    assert meta.captured_at == datetime(2026, 11, 20, 6, 3, 5, tzinfo=UTC)  # 14:03:05 at +08:00
    assert meta.gps is not None and meta.gps.altitude_m == 12.5
    assert abs(meta.gps.lat - LAT) < 1e-6 and abs(meta.gps.lon - LON) < 1e-6
    assert meta.camera == "TestCam X1"  # the make is not repeated when the model names it


def test_the_served_photo_has_no_exif_no_gps_no_xmp_and_stands_upright():
    original = gps_photo()
    assert b"Exif" in original and XMP in original and CAMERA.encode() in original  # the test's premise
    served = process_image(MediaType.JPEG, original, POLICY)
    assert b"Exif" not in served.served and b"xmpmeta" not in served.served and CAMERA.encode() not in served.served
    image = opened(served.served)
    assert image.format == "JPEG" and not image.getexif() and "xmp" not in image.info
    # orientation 6: the 64×48 sensor image is shown turned a quarter clockwise, 48×64; the red left half on top
    assert image.size == (48, 64) and served.metadata is not None and served.metadata.width == 48
    top, bottom = image.getpixel((24, 4)), image.getpixel((24, 60))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]


@pytest.mark.parametrize("fmt, media_type", [("PNG", MediaType.PNG), ("WEBP", MediaType.WEBP)])
def test_png_and_webp_are_stripped_too_and_keep_their_format(fmt, media_type):
    original = gps_photo(fmt, orientation=None)
    assert CAMERA.encode() in original  # the test's premise: the EXIF is in the file sent
    served = process_image(media_type, original, POLICY)
    assert sniff(served.served) is media_type
    image = opened(served.served)
    assert not image.getexif() and "xmp" not in image.info and "Comment" not in image.info
    assert CAMERA.encode() not in served.served and b"xmpmeta" not in served.served
    assert "张三".encode() not in served.served
    assert served.metadata is not None and served.metadata.gps is not None


def test_a_thumbnail_is_a_small_jpeg_of_the_upright_image_and_transparency_goes_white():
    served = process_image(MediaType.JPEG, photo(1200, 800, exif=gps_exif()), POLICY)
    assert served.thumbnail is not None
    thumb = opened(served.thumbnail)
    assert thumb.format == "JPEG" and thumb.size == (213, 320) and not thumb.getexif()
    transparent = process_image(MediaType.PNG, photo(40, 40, fmt="PNG", mode="RGBA"), POLICY)
    assert transparent.thumbnail is not None and opened(transparent.served).mode == "RGBA"
    assert opened(transparent.thumbnail).getpixel((2, 2))[1] > 100  # half-transparent red on white: light


def test_a_photo_without_exif_has_no_metadata_but_its_size_and_a_pdf_is_served_as_it_came():
    plain = process_image(MediaType.JPEG, photo(), POLICY)
    assert plain.metadata is not None and (plain.metadata.captured_at, plain.metadata.gps) == (None, None)
    assert (plain.metadata.width, plain.metadata.height) == (64, 48)


def test_exif_values_are_read_carefully():
    exif = {0x9003: "2026:11:20 14:03:05"}
    # no offset: China time
    assert photo_metadata(1, 1, {}, exif, {}).captured_at == datetime(2026, 11, 20, 14, 3, 5, tzinfo=CHINA_TIME)
    assert photo_metadata(1, 1, {}, {**exif, 0x9011: "-03:00"}, {}).captured_at == datetime(
        2026, 11, 20, 14, 3, 5, tzinfo=timezone(timedelta(hours=-3)))
    south_west = {1: "S", 2: (33.0, 52.0, 4.0), 3: "W", 4: (151.0, 12.0, 36.0)}
    tag = photo_metadata(1, 1, {}, {}, south_west).gps
    assert tag is not None and tag.lat < 0 and tag.lon < 0
    # what cameras write when they know nothing, or garbage: left out, never an error
    for gps in ({2: (0.0, 0.0, 0.0), 4: (0.0, 0.0, 0.0)}, {2: "north", 4: (1, 2)},
                {2: (91.0, 0.0, 0.0), 4: (1.0, 0.0, 0.0)}, {2: (float("nan"), 0.0, 0.0), 4: (1.0, 0.0, 0.0)}):
        assert photo_metadata(1, 1, {}, {}, gps).gps is None
    for stamp in ("0000:00:00 00:00:00", "    :  :     :  :  ", b"\x00\x00", 12345):
        assert photo_metadata(1, 1, {}, {0x9003: stamp}, {}).captured_at is None


def test_a_client_file_name_is_only_ever_shown():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\张三\\现场照片.jpg") == "现场照片.jpg"
    assert clean_filename('a"b<c>\x00d\n.jpg') == "abcd.jpg"
    assert clean_filename("...") is None and clean_filename(None) is None


# ---- the handlers ---------------------------------------------------------------------------------------------


async def case_in_progress(intake: FakeIntake) -> uuid.UUID:
    incident = await intake.bus.handle(report(grid_code=GRID))
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                              urgency="normal", grid_code=GRID, owner=OWNER, reason="located"))
    await intake.bus.handle(c.SignIncident(incident.id, WORKER))
    return incident.id


def upload(incident_id: uuid.UUID, data: bytes, actor: c.Actor = WORKER, key: str | None = None,
           filename: str = "现场.jpg") -> c.AttachFile:
    return c.AttachFile(incident_id=incident_id, actor=actor, data=data, filename=filename, idempotency_key=key)


async def test_an_upload_is_stored_stripped_on_the_timeline_and_published_without_bytes():
    intake = FakeIntake()
    incident_id = await case_in_progress(intake)
    attachment, created = await intake.bus.handle(upload(incident_id, gps_photo()))
    assert created and attachment.status is AttachmentStatus.STORED and attachment.media_type is MediaType.JPEG
    served, _ = intake.blobs.objects[attachment.object_key]
    assert b"Exif" not in served and attachment.size_bytes == len(served)
    assert attachment.thumbnail_key in intake.blobs.objects
    assert attachment.gps is not None and attachment.captured_at is not None
    event = intake.store.published[-1]
    assert event.type == "intake.incident.attached" and event.subject == str(incident_id)
    assert event.data["attachment_id"] == str(attachment.id) and event.data["gps"]["lat"] == pytest.approx(LAT)
    assert event.data["origin"] == "upload" and event.data["actor"] == "w1"
    assert len(event.model_dump_json()) < 2000  # ids and metadata, never the bytes
    entry = intake.store.incidents.timeline[-1]
    assert entry.action == "attach" and entry.detail["attachment_id"] == str(attachment.id)
    assert entry.detail["filename"] == "现场.jpg" and "gps" not in entry.detail


async def test_a_retried_upload_with_its_key_is_stored_once_and_another_file_under_it_is_409():
    intake = FakeIntake()
    incident_id = await case_in_progress(intake)
    first, created = await intake.bus.handle(upload(incident_id, gps_photo(), key="phone-queue-7"))
    again, created_again = await intake.bus.handle(upload(incident_id, gps_photo(), key="phone-queue-7"))
    assert created and not created_again and again.id == first.id
    assert len(intake.store.attachments.rows) == 1
    assert [e.type for e in intake.store.published].count("intake.incident.attached") == 1
    with pytest.raises(IdempotencyConflict) as refused:
        await intake.bus.handle(upload(incident_id, photo(), key="phone-queue-7"))
    assert refused.value.status == 409 and len(intake.store.attachments.rows) == 1
    # keys are the caller's own: another caller's same key is another upload
    _, other = await intake.bus.handle(upload(incident_id, gps_photo(), actor=SUPERVISOR, key="phone-queue-7"))
    assert other and len(intake.store.attachments.rows) == 2


async def test_who_may_attach_owners_and_the_grid_workers_and_centre_of_the_area():
    intake = FakeIntake()
    incident_id = await case_in_progress(intake)
    for outsider in (NEIGHBOUR, c.Actor("dept", "department", ("320508",), "dept-water"),
                     c.Actor("sup-x", "supervisor", ("310101",))):
        with pytest.raises(NotPermitted):
            await intake.bus.handle(upload(incident_id, photo(), actor=outsider))
    _, by_supervisor = await intake.bus.handle(upload(incident_id, photo(), actor=SUPERVISOR))
    _, by_grid_worker = await intake.bus.handle(upload(incident_id, PDF, actor=c.Actor("w9", "gridworker", (GRID,))))
    assert by_supervisor and by_grid_worker
    assert not intake.blobs.objects.keys() - {a.object_key for a in intake.store.attachments.rows.values()} - {
        a.thumbnail_key for a in intake.store.attachments.rows.values()}  # nothing stored for the refusals


async def test_the_case_cap_counts_stored_files_and_nothing_is_left_behind_when_refused():
    intake = FakeIntake()  # the fakes' cap: 3 a case
    incident_id = await case_in_progress(intake)
    for _ in range(3):
        await intake.bus.handle(upload(incident_id, photo()))
    objects = dict(intake.blobs.objects)
    with pytest.raises(TooManyAttachments):
        await intake.bus.handle(upload(incident_id, photo()))
    assert intake.blobs.objects == objects and len(intake.store.attachments.rows) == 3


async def test_a_closed_case_takes_no_more_files():
    intake = FakeIntake()
    incident_id = await case_in_progress(intake)
    await intake.bus.handle(c.SubmitResult(incident_id, WORKER, result="已清理"))
    await intake.bus.handle(c.VerifyResult(incident_id, SUPERVISOR, passed=True))
    with pytest.raises(IllegalTransition) as refused:
        await intake.bus.handle(upload(incident_id, photo(), actor=SUPERVISOR))
    assert refused.value.status == 409


async def test_a_finish_names_its_photos_which_must_be_the_cases_own():
    intake = FakeIntake()
    incident_id = await case_in_progress(intake)
    other_case = await case_in_progress(intake)
    before, _ = await intake.bus.handle(upload(incident_id, photo(), filename="处置前.jpg"))
    after, _ = await intake.bus.handle(upload(incident_id, gps_photo(), filename="处置后.jpg"))
    elsewhere, _ = await intake.bus.handle(upload(other_case, photo()))
    for wrong in ((elsewhere.id,), (uuid.uuid4(),), (after.id, after.id)):
        with pytest.raises(InvalidRequest) as refused:
            await intake.bus.handle(c.SubmitResult(incident_id, WORKER, result="已清理", attachments=wrong))
        assert refused.value.status == 422 and refused.value.errors[0]["field"] == "attachments"
    assert intake.store.incidents.rows[incident_id].status.value == "in_progress"  # nothing changed
    done = await intake.bus.handle(c.SubmitResult(incident_id, WORKER, result="已清理",
                                                  attachments=(before.id, after.id)))
    assert done.status.value == "pending_verification"
    event = intake.store.published[-1]
    assert event.type == "intake.incident.result_submitted"
    assert event.data["attachments"] == [str(before.id), str(after.id)]
    assert intake.store.incidents.timeline[-1].detail["attachments"] == [str(before.id), str(after.id)]


# ---- the background fetch of a 12345 order's (or an Open311 request's) URLs --------------------------------------


def order(**overrides) -> c.AcceptHotlineOrder:
    fields = dict(order_no="GD2026112300009", title="井盖缺失", content="路口井盖不见了", category="0301",
                  urgency="一般", received_at=NOW - timedelta(minutes=5), lon=120.05, lat=31.1,
                  attachments=("https://12345.example/files/a.jpg", "https://12345.example/files/b.pdf",
                               "https://12345.example/files/gone.jpg"))
    return c.AcceptHotlineOrder(**{**fields, **overrides})


async def test_a_hotline_orders_urls_become_pending_attachments_fetched_later_never_in_the_request():
    intake = FakeIntake()
    incident, _ = await intake.bus.handle(order())
    assert intake.fetcher.fetched == []
    pending = sorted(intake.store.attachments.rows.values(), key=lambda a: a.source_url or "")
    assert [(a.status, a.origin, a.filename) for a in pending] == [
        (AttachmentStatus.PENDING, "hotline", "a.jpg"), (AttachmentStatus.PENDING, "hotline", "b.pdf"),
        (AttachmentStatus.PENDING, "hotline", "gone.jpg")]
    intake.fetcher.answers = {"https://12345.example/files/a.jpg": gps_photo(),
                              "https://12345.example/files/b.pdf": PDF}
    assert await intake.bus.handle(c.FetchAttachments(batch=10)) == 3
    rows = {a.filename: a for a in intake.store.attachments.rows.values()}
    assert rows["a.jpg"].status is AttachmentStatus.STORED and rows["a.jpg"].gps is not None
    assert rows["b.pdf"].status is AttachmentStatus.STORED and not rows["b.pdf"].has_thumbnail
    assert rows["gone.jpg"].status is AttachmentStatus.FAILED and rows["gone.jpg"].error == "HTTP 404"
    attached = [e for e in intake.store.published if e.type == "intake.incident.attached"]
    assert len(attached) == 2 and {e.data["origin"] for e in attached} == {"hotline"}
    assert {e.data["actor"] for e in attached} == {"hotline"}
    failed = [t for t in intake.store.incidents.timeline if t.action == "attach_failed"]
    assert len(failed) == 1 and failed[0].detail["url"].endswith("gone.jpg")
    assert await intake.bus.handle(c.FetchAttachments(batch=10)) == 0  # nothing left to do


async def test_a_fetch_that_may_mend_is_tried_again_after_a_backoff_then_given_up():
    intake = FakeIntake()  # the fakes: 3 attempts, 1 minute doubling
    await intake.bus.handle(order(attachments=("https://12345.example/busy.jpg",)))
    intake.fetcher.answers = {"https://12345.example/busy.jpg": FetchFailed("HTTP 503", permanent=False)}
    assert await intake.bus.handle(c.FetchAttachments()) == 1
    [attachment] = intake.store.attachments.rows.values()
    assert attachment.status is AttachmentStatus.PENDING and attachment.attempts == 1
    assert attachment.next_attempt_at == NOW + timedelta(minutes=1)
    assert await intake.bus.handle(c.FetchAttachments()) == 0  # not due yet
    intake.clock.advance(minutes=1)
    assert await intake.bus.handle(c.FetchAttachments()) == 1
    [attachment] = intake.store.attachments.rows.values()
    assert attachment.next_attempt_at == NOW + timedelta(minutes=1 + 2)
    intake.clock.advance(minutes=2)
    await intake.bus.handle(c.FetchAttachments())
    [attachment] = intake.store.attachments.rows.values()
    assert attachment.status is AttachmentStatus.FAILED and attachment.attempts == 3
    assert attachment.error == "HTTP 503" and not attachment.counts


async def test_a_fetched_file_we_do_not_take_fails_at_once_and_an_open311_media_url_is_fetched_the_same_way():
    intake = FakeIntake()
    await intake.bus.handle(order(attachments=("https://12345.example/page.jpg",)))
    intake.fetcher.answers = {"https://12345.example/page.jpg": HTML,
                              "https://cdn.example/p/1.webp": gps_photo("WEBP")}
    await intake.bus.handle(c.FetchAttachments())
    [failed] = intake.store.attachments.rows.values()
    assert failed.status is AttachmentStatus.FAILED and failed.attempts == 1 and "content" in (failed.error or "")
    public = await intake.bus.handle(c.SubmitPublicRequest(
        "open311-unit-key", report(source="public", attachments=("https://cdn.example/p/1.webp",))))
    await intake.bus.handle(c.FetchAttachments())
    [stored] = [a for a in intake.store.attachments.rows.values() if a.incident_id == public.id]
    assert stored.status is AttachmentStatus.STORED and stored.origin == "open311"
    assert stored.media_type is MediaType.WEBP


async def test_a_grid_workers_report_urls_stay_links():
    intake = FakeIntake()
    await intake.bus.handle(report(attachments=("https://app.example/local/1.jpg",)))
    assert intake.store.attachments.rows == {}
