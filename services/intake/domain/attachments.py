"""Attachments of a case: the photos (before and after 处置, for 核查) and documents that go with it. Pure.

What is taken is judged by the file's first bytes, never by the name or the Content-Type the client sent: JPEG,
PNG and WebP photos and PDF documents. HEIC/HEIF (an iPhone's default) is recognised and refused with a reason: the
Pillow in our lock reads it only with a native plugin we do not ship. Each file has a size cap and each case a cap
on how many it holds. A photo's EXIF capture time and GPS fix are kept as the attachment's metadata for 核查 (was
the photo taken there, then?) and never served: the image is re-encoded without them (adapters/images.py does the
decoding; the reading of its EXIF values is here).

A 12345 order's attachment URLs and an Open311 `media_url` become attachments too: each is recorded as `pending`
with its case, fetched in the background, then `stored` like an upload, or `failed` with the reason.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal

from services.intake.domain.errors import (
    AttachmentTooLarge,
    InvalidRequest,
    TooManyAttachments,
    UnreadableFile,
    UnsupportedMedia,
)
from shared.ids import time_ordered_id

Origin = Literal["upload", "hotline", "open311"]
# Where a case's URLs are fetched from, by the case's source: 12345 orders and Open311 requests. A report from our
# own apps uploads its files (POST /v1/incidents/{id}/attachments); its `attachments` URLs stay links.
FETCHED_SOURCES: dict[str, Origin] = {"hotline": "hotline", "public": "open311"}
THUMBNAIL_PX = 320  # the longer side of a thumbnail
# A photo's EXIF time without an offset (OffsetTimeOriginal is recent, and many cameras leave it out) is read as
# China Standard Time: the city's phones are set to it.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
HEAD_BYTES = 32  # what sniff() looks at

# ISO BMFF brands of HEIF files (HEIC photos, their sequences, AVIF's cousins we do not take either).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                         b"msf1", b"mif2"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})


class MediaType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"

    @property
    def is_image(self) -> bool:
        return self is not MediaType.PDF

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}[self.value]


TAKEN = "JPEG, PNG and WebP photos and PDF documents"


def sniff(data: bytes) -> MediaType:
    """The file's type from its first bytes; UnsupportedMedia (415) for anything else."""
    head = data[:HEAD_BYTES]
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType.WEBP
    if head.startswith(b"%PDF-"):
        return MediaType.PDF
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        raise UnsupportedMedia("HEIC/HEIF photos are not taken: send JPEG (on an iPhone: Settings → Camera → "
                               f"Formats → Most Compatible, or share the photo as JPEG); taken are {TAKEN}",
                               detected="image/heic")
    if head[4:8] == b"ftyp" and head[8:12] in AVIF_BRANDS:
        raise UnsupportedMedia(f"AVIF images are not taken; taken are {TAKEN}", detected="image/avif")
    raise UnsupportedMedia(f"the file is none of {TAKEN} (judged by its content, not its name or declared type)")


@dataclass(frozen=True)
class AttachmentPolicy:
    """The caps (INTAKE_ATTACHMENTS_MAX_* settings)."""

    max_bytes: int = 10 * 1024 * 1024
    max_per_case: int = 20
    max_pixels: int = 50_000_000

    def judge(self, data: bytes) -> MediaType:
        """The type of a file we may take: not empty, not over the size cap (413), of a type we take (415)."""
        if not data:
            raise InvalidRequest("the file is empty", field="file")
        self.check_size(len(data))
        return sniff(data)

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise AttachmentTooLarge(size, self.max_bytes)

    def check_room(self, held: int) -> None:
        """A case holding `held` attachments (stored or still to fetch) may take one more."""
        if held >= self.max_per_case:
            raise TooManyAttachments(self.max_per_case)

    def check_pixels(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise UnreadableFile("the image has no pixels")
        if width * height > self.max_pixels:
            raise UnreadableFile(f"the image is {width}×{height} pixels; at most {self.max_pixels:,} are taken")


# ---- what a photo says about itself ---------------------------------------------------------------------------

# EXIF tags read (the IFD numbers are the standard's).
DATE_TIME_ORIGINAL, DATE_TIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9011, 0x9012
MAKE, MODEL = 0x010F, 0x0110
GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4
GPS_ALTITUDE_REF, GPS_ALTITUDE = 5, 6


@dataclass(frozen=True)
class GeoTag:
    """Where the camera's GPS put the photo (WGS84, as phones record it)."""

    lon: float
    lat: float
    altitude_m: float | None = None


@dataclass(frozen=True)
class PhotoMetadata:
    width: int
    height: int
    captured_at: datetime | None = None
    gps: GeoTag | None = None
    camera: str | None = None


def photo_metadata(width: int, height: int, ifd0: Mapping[int, Any], exif: Mapping[int, Any],
                   gps: Mapping[int, Any]) -> PhotoMetadata:
    """A photo's size, capture time, GPS fix and camera from its EXIF directories (IFD0, the Exif IFD, the GPS
    IFD: tag number → value as Pillow reads them). A value that is missing or malformed is left out, never an
    error: the photo is taken either way."""
    return PhotoMetadata(width=width, height=height,
                         captured_at=_capture_time(exif.get(DATE_TIME_ORIGINAL), exif.get(OFFSET_TIME_ORIGINAL))
                         or _capture_time(exif.get(DATE_TIME_DIGITIZED), exif.get(OFFSET_TIME_DIGITIZED)),
                         gps=_geotag(gps), camera=_camera(ifd0.get(MAKE), ifd0.get(MODEL)))


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ").strip()
    return value or None


def _capture_time(stamp: Any, offset: Any) -> datetime | None:
    text = _text(stamp)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: timezone = CHINA_TIME
    offset_text = _text(offset)
    if offset_text:
        try:
            zone = datetime.strptime(offset_text, "%z").tzinfo or CHINA_TIME  # type: ignore[assignment]
        except ValueError:
            zone = CHINA_TIME
    return moment.replace(tzinfo=zone)


def _degrees(value: Any) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals."""
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if any(part != part or part < 0 for part in (d, m, s)):  # NaN (a 0/0 rational) or negative
        return None
    return d + m / 60 + s / 3600


def _geotag(gps: Mapping[int, Any]) -> GeoTag | None:
    lat, lon = _degrees(gps.get(GPS_LATITUDE)), _degrees(gps.get(GPS_LONGITUDE))
    if lat is None or lon is None:
        return None
    if (_text(gps.get(GPS_LATITUDE_REF)) or "N").upper() == "S":
        lat = -lat
    if (_text(gps.get(GPS_LONGITUDE_REF)) or "E").upper() == "W":
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):  # 0,0: a camera with no fix
        return None
    altitude = None
    try:
        if gps.get(GPS_ALTITUDE) is not None:
            altitude = float(gps[GPS_ALTITUDE])
            ref = gps.get(GPS_ALTITUDE_REF)
            if ref in (1, b"\x01"):
                altitude = -altitude
            if altitude != altitude:
                altitude = None
    except (TypeError, ValueError, ZeroDivisionError):
        altitude = None
    return GeoTag(lon=round(lon, 7), lat=round(lat, 7), altitude_m=round(altitude, 2) if altitude is not None
                  else None)


def _camera(make: Any, model: Any) -> str | None:
    parts = [p for p in (_text(make), _text(model)) if p]
    if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
        parts = parts[1:]
    return " ".join(parts)[:100] or None


# ---- the attachment -------------------------------------------------------------------------------------------


class AttachmentStatus(StrEnum):
    PENDING = "pending"  # a URL to fetch
    STORED = "stored"
    FAILED = "failed"  # a fetch that cannot succeed, or gave up; the reason is kept


@dataclass(frozen=True)
class UploadKey:
    """An upload's Idempotency-Key: same key + same file → the first attachment again; another file → 409."""

    scope: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, scope: str, key: str, incident_id: uuid.UUID, filename: str | None, data: bytes) -> UploadKey:
        digest = hashlib.sha256(data).hexdigest()
        return cls(scope, key, hashlib.sha256(f"{incident_id}|{filename or ''}|{digest}".encode()).hexdigest())


@dataclass
class Attachment:
    id: uuid.UUID
    incident_id: uuid.UUID
    origin: Origin
    status: AttachmentStatus
    created_at: datetime
    created_by: str | None = None
    filename: str | None = None
    source_url: str | None = None
    media_type: MediaType | None = None
    size_bytes: int | None = None  # of the file as served (re-encoded without EXIF for a photo)
    sha256: str | None = None  # of the file as received: the evidence it was
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None
    gps: GeoTag | None = None
    camera: str | None = None
    has_thumbnail: bool = False
    stored_at: datetime | None = None
    error: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    upload_key: UploadKey | None = field(default=None, repr=False)

    @classmethod
    def to_fetch(cls, incident_id: uuid.UUID, origin: Origin, url: str, at: datetime) -> Attachment:
        return cls(id=time_ordered_id(), incident_id=incident_id, origin=origin, status=AttachmentStatus.PENDING,
                   created_at=at, created_by=origin, source_url=url, filename=_name_from_url(url),
                   next_attempt_at=at)

    @property
    def object_key(self) -> str:
        """Where its bytes are in the object store (by ids only: nothing a client wrote becomes a path)."""
        extension = self.media_type.extension if self.media_type else "bin"
        return f"{self.incident_id}/{self.id}.{extension}"

    @property
    def thumbnail_key(self) -> str:
        return f"{self.incident_id}/{self.id}.thumb.jpg"

    @property
    def counts(self) -> bool:
        """Whether it takes one of the case's places (a failed fetch does not)."""
        return self.status is not AttachmentStatus.FAILED

    def store(self, media_type: MediaType, original: bytes, served_size: int, metadata: PhotoMetadata | None,
              has_thumbnail: bool, at: datetime) -> None:
        self.status, self.media_type, self.stored_at, self.error = AttachmentStatus.STORED, media_type, at, None
        self.sha256 = hashlib.sha256(original).hexdigest()
        self.size_bytes, self.has_thumbnail = served_size, has_thumbnail
        if metadata is not None:
            self.width, self.height = metadata.width, metadata.height
            self.captured_at, self.gps, self.camera = metadata.captured_at, metadata.gps, metadata.camera

    def fetch_failed(self, reason: str, *, permanent: bool, at: datetime, max_attempts: int,
                     backoff: timedelta) -> bool:
        """One failed attempt (already counted in `attempts`). Returns True when it has given up: a failure that
        trying again cannot mend, or the last attempt; else the next is due after a backoff that doubles."""
        self.error = reason[:500]
        if permanent or self.attempts >= max_attempts:
            self.status, self.next_attempt_at = AttachmentStatus.FAILED, None
            return True
        self.next_attempt_at = at + backoff * (2 ** max(0, self.attempts - 1))
        return False

    def describe(self) -> dict[str, Any]:
        """What the timeline keeps of it (no bytes, no EXIF position: the attachment's own record has those)."""
        detail: dict[str, Any] = {"attachment_id": str(self.id), "origin": self.origin}
        for name in ("media_type", "filename", "size_bytes"):
            if (value := getattr(self, name)) is not None:
                detail[name] = str(value) if name == "media_type" else value
        return detail


def _name_from_url(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1] if "/" in path else ""
    return clean_filename(name)


def clean_filename(name: str | None) -> str | None:
    """A client's file name as we keep and show it: its last path part, without control characters, at most 200
    characters; None when nothing is left. Only ever shown, never used as a path (objects are keyed by id)."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>').strip(" .")
    return name[:200] or None


def served_name(attachment: Attachment) -> str:
    """The name a download is offered under: the client's, with the extension of what is served."""
    media = attachment.media_type or MediaType.PDF
    stem = (attachment.filename or f"attachment-{attachment.id}").rsplit(".", 1)[0] or f"attachment-{attachment.id}"
    return f"{stem}.{media.extension}"


def check_references(referenced: tuple[uuid.UUID, ...], stored: set[uuid.UUID]) -> None:
    """An action naming attachments (a 办结 with its photos) names stored attachments of its own case."""
    unknown = [str(a) for a in referenced if a not in stored]
    if unknown:
        raise InvalidRequest(f"attachments {', '.join(unknown)} are not stored attachments of this case",
                             field="attachments", type_="unknown_attachment")
    if len(set(referenced)) != len(referenced):
        raise InvalidRequest("an attachment is named twice", field="attachments")
