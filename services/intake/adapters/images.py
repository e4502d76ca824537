"""Photos made ready to serve, with Pillow (in a worker thread: decoding is CPU work).

A photo is decoded once its declared size is within the pixel cap; its EXIF is read (capture time, GPS, camera:
domain/attachments.py reads the values) and then left behind: the served image is turned upright as its EXIF
orientation said, and re-encoded in its own format with nothing of the original's metadata but its colour profile
(no EXIF, no XMP, no text chunks), so what is served says nothing of where or when it was taken. A JPEG thumbnail
is made from it. Only the first frame of an animated PNG or WebP (or of a phone's multi-picture JPEG) is kept.
A PDF is served as it came (no thumbnail).
"""

from __future__ import annotations

import asyncio
import io
import struct
from typing import Any

from PIL import Image, ImageOps

from services.intake.domain.attachments import THUMBNAIL_PX, AttachmentPolicy, MediaType, photo_metadata
from services.intake.domain.errors import UnreadableFile
from services.intake.service_layer.attachments import Processed

# Pillow's names for what each sniffed type may turn out to be (a phone's JPEG is often a multi-picture "MPO").
PIL_FORMATS: dict[MediaType, tuple[str, ...]] = {MediaType.JPEG: ("JPEG", "MPO"), MediaType.PNG: ("PNG",),
                                                 MediaType.WEBP: ("WEBP",)}
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
JPEG_QUALITY = 90
THUMBNAIL_QUALITY = 80
# What Pillow raises on bytes it cannot read as the image they claim to be (truncated, corrupt: its fuzzers find
# malformed files ending in any of these).
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error)


class PillowProcessor:
    """service_layer/attachments.py `FileProcessor`."""

    async def process(self, media_type: MediaType, data: bytes, policy: AttachmentPolicy) -> Processed:
        if not media_type.is_image:
            return Processed(served=data, thumbnail=None, metadata=None)
        return await asyncio.to_thread(process_image, media_type, data, policy)


def process_image(media_type: MediaType, data: bytes, policy: AttachmentPolicy) -> Processed:
    formats = PIL_FORMATS[media_type]
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            policy.check_pixels(*image.size)  # before decoding: the header's word is enough to refuse
            exif = image.getexif()
            ifd0, exif_ifd, gps_ifd = dict(exif), dict(exif.get_ifd(EXIF_IFD)), dict(exif.get_ifd(GPS_IFD))
            icc = image.info.get("icc_profile")
            transparency = "transparency" in image.info
            image.load()
            upright = ImageOps.exif_transpose(image)
    except UnreadableFile:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, far above ours: refused at the header too
        raise UnreadableFile(f"the image declares more than {policy.max_pixels:,} pixels, the most taken") from exc
    except UNREADABLE as exc:
        raise UnreadableFile(f"the file starts like {media_type.value} but cannot be read as one "
                             f"({type(exc).__name__})") from exc
    metadata = photo_metadata(upright.width, upright.height, ifd0, exif_ifd, gps_ifd)
    upright.info = {}  # nothing of the original's metadata rides along into the encoders
    served = _encode(upright, media_type, icc, transparency)
    return Processed(served=served, thumbnail=_thumbnail(upright, transparency), metadata=metadata)


def _encode(image: Image.Image, media_type: MediaType, icc: bytes | None, transparency: bool) -> bytes:
    out = io.BytesIO()
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if media_type is MediaType.JPEG:
        image = image if image.mode in ("RGB", "L", "CMYK") else image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, **extra)
    elif media_type is MediaType.PNG:
        if image.mode == "P":
            image = image.convert("RGBA" if transparency else "RGB")
        image.save(out, "PNG", **extra)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image, transparency) else "RGB")
        image.save(out, "WEBP", quality=JPEG_QUALITY, **extra)
    return out.getvalue()


def _has_alpha(image: Image.Image, transparency: bool) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and transparency)


def _thumbnail(image: Image.Image, transparency: bool) -> bytes | None:
    """A JPEG at most THUMBNAIL_PX on its longer side; transparent parts on white. None for the rare image mode
    that has no RGB form (a 16-bit greyscale PNG, say): the full image is still served."""
    try:
        small = image.copy()
        small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        if _has_alpha(small, transparency):
            rgba = small.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            small = flat
        elif small.mode != "RGB":
            small = small.convert("RGB")
        out = io.BytesIO()
        small.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
        return out.getvalue()
    except (ValueError, OSError):
        return None
