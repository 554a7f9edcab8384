"""Real HEIC and AVIF files, made by the encoders the service's decoders pair with
(pillow-heif's libheif + x265, Pillow's libavif), and hostile variants patched by hand."""

from __future__ import annotations

from io import BytesIO

import pillow_heif
from PIL import ExifTags, Image

# Where the iPhone-like files say they were taken: bytes that must never reach storage.
GPS_LATITUDE = (52.0, 31.0, 12.34)
CAMERA_MAKE = "Apple"
CAMERA_MODEL = "iPhone 15 Pro"

pillow_heif.register_heif_opener()  # the service registers it too (media/images.py)


def marked_picture(size: tuple[int, int] = (240, 160)) -> Image.Image:
    """A gradient with a red top-left quarter-corner, so a rotation is visible."""
    width, height = size
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    picture.paste((255, 0, 0), (0, 0, width // 4, height // 4))
    return picture


def iphone_exif(orientation: int) -> bytes:
    """EXIF as an iPhone writes it: make, model, orientation and a GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif[ExifTags.Base.Model] = CAMERA_MODEL
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 56.78)
    return exif.tobytes()


def heic(picture: Image.Image | None = None, *, orientation: int = 1) -> bytes:
    """A HEIC (HEVC in HEIF, brand `heic`) with iPhone-like EXIF. pillow-heif's encoder, like
    the iPhone, also records the orientation as the container's `irot`/`imir` transform."""
    buffer = BytesIO()
    (picture or marked_picture()).save(buffer, "HEIF", quality=80,
                                       exif=iphone_exif(orientation))
    return buffer.getvalue()


def avif(picture: Image.Image | None = None, *, orientation: int = 1) -> bytes:
    """An AVIF (AV1 in HEIF, brand `avif`) with the same EXIF."""
    buffer = BytesIO()
    (picture or marked_picture()).save(buffer, "AVIF", quality=80,
                                       exif=iphone_exif(orientation))
    return buffer.getvalue()


def declaring(data: bytes, width: int, height: int) -> bytes:
    """`data` with every `ispe` property (the declared image sizes) rewritten; the coded
    pixels stay as small as they were."""
    marker = b"ispe\x00\x00\x00\x00"
    patched = bytearray(data)
    start = patched.find(marker)
    assert start >= 0, "no ispe property"
    while start >= 0:
        at = start + len(marker)
        patched[at:at + 8] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        start = patched.find(marker, at)
    return bytes(patched)
