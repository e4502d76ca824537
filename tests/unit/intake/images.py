"""Tiny files made in memory for the attachment tests: photos with and without EXIF (GPS, capture time, camera,
orientation, XMP), and the other kinds of file a client may send."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image, PngImagePlugin

# Where and when the test photo says it was taken: 31°18'36"N 120°36'0.5"E, 20 Nov 2026 14:03:05 at UTC+8.
LAT, LON = 31 + 18 / 60 + 36 / 3600, 120 + 36 / 60 + 0.5 / 3600
TAKEN = "2026:11:20 14:03:05"
CAMERA = "TestCam"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="31,18.6N"/>'
       b'</rdf:RDF></x:xmpmeta>')
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >>"
       b" endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
# What an iPhone's HEIC starts with (an ISO BMFF `ftyp` box of brand heic).
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def gps_exif(*, orientation: int | None = 6, offset: str | None = "+08:00") -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    exif[ExifTags.Base.Model] = "TestCam X1"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = TAKEN
    if offset is not None:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 18.0, 36.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (120.0, 36.0, 0.5)
    gps[ExifTags.GPS.GPSAltitudeRef] = 0
    gps[ExifTags.GPS.GPSAltitude] = 12.5
    return exif


def photo(width: int = 64, height: int = 48, *, fmt: str = "JPEG", exif: Image.Exif | None = None,
          mode: str = "RGB", xmp: bool = False) -> bytes:
    """A small image: the left half red, the right half blue (so that turning it upright can be seen)."""
    image = Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    image.paste((30, 30, 200) if mode == "RGB" else (30, 30, 200, 255), (width // 2, 0, width, height))
    out = io.BytesIO()
    extra: dict = {}
    if exif is not None:
        extra["exif"] = exif
    if xmp:
        extra["xmp"] = XMP
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "taken at 31.31N 120.60E by 张三")
        extra["pnginfo"] = info
    image.save(out, fmt, **extra)
    return out.getvalue()


def gps_photo(fmt: str = "JPEG", **kwargs) -> bytes:
    return photo(fmt=fmt, exif=gps_exif(**kwargs), xmp=fmt in ("JPEG", "WEBP"))


def huge_declared_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header declares width × height pixels (a decompression bomb's shape): a 1×1 image with its
    IHDR rewritten, so nothing large is ever made here, and decoding it would fail; refusing it must come first."""
    small = photo(1, 1, fmt="PNG")
    start = small.index(b"IHDR")
    header = struct.pack(">II", width, height) + small[start + 12:start + 17]
    return small[:start + 4] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + small[start + 21:]


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))
