"""Upload sanitising and the few image operations the service needs (Pillow).

Everything here treats its input as hostile: the format is decided by content (magic bytes
plus Pillow restricted to that one format), declared dimensions are checked before any pixel
is decoded, and uploads are re-encoded from pixels so no metadata (EXIF, GPS, XMP, ICC,
comments, PNG text chunks) survives. HEIC and AVIF uploads are stored as JPEG.

The `_`-prefixed helpers are private to the media package; media/export.py reuses them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

from media.formats import (
    AVIF,
    FORMATS,
    HEIC,
    JPEG,
    PNG,
    SUPPORTED_TYPES_TEXT,
    UPLOAD_FORMATS,
    UPLOAD_TYPES_TEXT,
    WEBP,
    ImageFormat,
    sniff,
)
from media.heif import brand_format, largest_declared_size
from models.errors import DomainError

# pillow-heif's Pillow plugin reads HEIC (libheif, libde265). Only the primary image is wanted:
# thumbnails, depth maps and auxiliary images are not read at all. libheif's own security limits
# stay on (pillow_heif.options.DISABLE_SECURITY_LIMITS is never set).
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

# A truncated upload must be refused, never padded with grey. This is Pillow's default; set it
# explicitly so the intent is visible, and `_decode` refuses to run if anything re-enables it.
ImageFile.LOAD_TRUNCATED_IMAGES = False

MIN_SIDE = 64
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
# Generators return bigger files than phones upload (lossless PNG at 2048 px and more).
RESULT_MAX_BYTES = 32 * 1024 * 1024

JPEG_QUALITY = 90
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 85


class ImageRejected(DomainError):
    """An image the service will not accept (its HTTP status: `api/errors.py`)."""

    field = "image"


class UnsupportedImage(ImageRejected):
    code = "unsupported_media_type"


class ImageTooLarge(ImageRejected):
    code = "image_too_large"


class InvalidImage(ImageRejected):
    code = "invalid_image"


@dataclass(frozen=True)
class SanitizedImage:
    data: bytes
    content_type: str
    extension: str  # without the dot, as used in storage keys: jpg | png | webp
    width: int
    height: int


@dataclass(frozen=True)
class Thumbnail:
    """A JPEG made from an image's pixels, and its size (kept beside its URL, §12)."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class CheckedResult:
    """A generator's result as checked: its type and size, and the thumbnail made from it."""

    content_type: str
    width: int
    height: int
    thumbnail: Thumbnail


# Formats people commonly try, so the 415 message can say what was sent.
_KNOWN_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF", "PDF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"<?xml", "XML/SVG"),
    (b"<svg", "SVG"),
)


def _sniff(raw: bytes, accept: tuple[ImageFormat, ...]) -> ImageFormat:
    """Decide the container from the leading bytes; refuse any format not in `accept`."""
    fmt = sniff(raw) or brand_format(raw)
    if fmt in accept:
        return fmt
    allowed = UPLOAD_TYPES_TEXT if accept == UPLOAD_FORMATS else SUPPORTED_TYPES_TEXT
    if fmt is not None:
        name = fmt.extension.upper()
    else:
        head = raw[:64].lstrip()
        fallback = "an ISO media file" if raw[4:8] == b"ftyp" else "unrecognised content"
        name = next((name for magic, name in _KNOWN_UNSUPPORTED if head.startswith(magic)),
                    fallback)
    raise UnsupportedImage(f"Unsupported image type ({name}): upload a {allowed} image.")


def open_checked(raw: bytes, *, max_bytes: int, max_pixels: int,
                 accept: tuple[ImageFormat, ...] = FORMATS) -> tuple[Image.Image, ImageFormat]:
    """Open (header only) and check size, format and declared dimensions. No pixels decoded.

    `accept`: the formats the caller takes (uploads: UPLOAD_FORMATS; stored images: FORMATS)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("image data must be bytes")
    raw = bytes(raw)
    if not raw:
        raise InvalidImage("The image is empty.")
    if len(raw) > max_bytes:
        raise ImageTooLarge(
            f"The image is {len(raw)} bytes; the limit is {max_bytes} bytes "
            f"({max_bytes / (1024 * 1024):.0f} MiB)."
        )
    fmt = _sniff(raw, accept)
    # Pillow's WebP reader runs libwebp's decoder setup at open, which sizes (and allocates)
    # the canvas: check the declared size from the header first, as for the other formats.
    # libheif and libavif parse a whole HEIF container at open: its declared sizes are read
    # first too, and a file whose boxes cannot be followed that far is not handed to them.
    declared = None
    if fmt is WEBP:
        declared = _webp_canvas_size(raw)
    elif fmt in (HEIC, AVIF):
        declared = largest_declared_size(raw)
        if declared is None:
            raise InvalidImage(f"The file looks like {fmt.extension.upper()} but is corrupt.")
    if declared is not None and declared[0] * declared[1] > max_pixels:
        raise _too_many_pixels(declared, max_pixels)
    # Pillow warns (rather than raises) between MAX_IMAGE_PIXELS and twice that; both are bombs.
    # catch_warnings touches process-wide state, which is fine for gunicorn sync workers and
    # Celery prefork children (one request/task per process at a time).
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(BytesIO(raw), formats=[fmt.pillow_name])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(None, max_pixels) from exc
        except Exception as exc:  # any parser failure on hostile input is bad input, not a 500
            raise InvalidImage(f"The file looks like {fmt.pillow_name} but is corrupt.") from exc
    if image.format not in fmt.pillow_names:
        raise UnsupportedImage(f"Unsupported image type: upload a {UPLOAD_TYPES_TEXT} image.")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage("The image has no pixels.")
    if width * height > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)
    return image, fmt


def _webp_canvas_size(raw: bytes) -> tuple[int, int] | None:
    """The canvas a WebP file declares in its first chunk (RFC 9649): VP8X (extended: the
    canvas), VP8L (lossless) or VP8 (lossy); None when the header is not one of those."""
    chunk = raw[12:16]
    if chunk == b"VP8X" and len(raw) >= 30:
        return (int.from_bytes(raw[24:27], "little") + 1,
                int.from_bytes(raw[27:30], "little") + 1)
    if chunk == b"VP8L" and len(raw) >= 25 and raw[20] == 0x2F:
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(raw) >= 30 and raw[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(raw[26:28], "little") & 0x3FFF,
                int.from_bytes(raw[28:30], "little") & 0x3FFF)
    return None


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> ImageRejected:
    declared = f" ({size[0]}x{size[1]})" if size else ""
    return ImageTooLarge(
        f"The image dimensions{declared} exceed the limit of {max_pixels} pixels."
    )


def _decode(image: Image.Image) -> None:
    """Decode the (first frame's) pixels; truncated or corrupt data is an invalid image."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay disabled")
    try:
        image.load()
    except MemoryError as exc:
        raise ImageTooLarge("The image is too large to process.") from exc
    except Exception as exc:  # truncated streams raise OSError; other codecs, other types
        raise InvalidImage("The image data is truncated or corrupt.") from exc


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation says. Unreadable EXIF is treated as no orientation."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation not in range(2, 9):
            return image
        transposed = ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF: it is stripped anyway, keep the pixels as stored
        return image
    return transposed if transposed is not None else image


def _shown_size(image: Image.Image) -> tuple[int, int]:
    """The size the image shows at: its stored size, turned if its EXIF orientation turns it
    a quarter (as a browser shows it)."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # malformed EXIF, as in _apply_orientation: shown as stored
        orientation = 1
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Bake an embedded colour profile (Display P3, CMYK) into sRGB pixels before dropping it."""
    if not icc_profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc_profile))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except Exception:  # a broken or mismatched profile: fall back to the raw values
        return image
    return converted if converted is not None else image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    # Pillow's I;16 -> L conversion clips at 255 instead of scaling; scale 0..65535 to 0..255.
    return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")


def _normalise_mode(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Return a new RGB (or RGBA when `keep_alpha` and the image has transparency) image."""
    if image.mode.startswith("I"):
        image = _to_8bit_gray(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        if keep_alpha:
            return rgba
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def encode_image(image: Image.Image, fmt: ImageFormat, *, quality: int = JPEG_QUALITY) -> bytes:
    # Encoders fall back to image.info for the ICC profile, comments and transparency; clear it
    # so only pixels are written.
    image.info = {}
    buffer = BytesIO()
    if fmt is JPEG:
        image.save(buffer, "JPEG", quality=quality, optimize=True)
    elif fmt is PNG:
        image.save(buffer, "PNG", compress_level=6)
    else:
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


def clean_pixels(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """The image's pixels decoded, turned upright, in sRGB, as RGB (or RGBA when `keep_alpha`
    and it has transparency): a new image that carries nothing but pixels."""
    _decode(image)
    icc_profile = image.info.get("icc_profile")
    upright = _apply_orientation(image)
    colour_managed = _to_srgb(upright, icc_profile if isinstance(icc_profile, bytes) else None)
    return _normalise_mode(colour_managed, keep_alpha=keep_alpha)


def sanitize_upload(
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> SanitizedImage:
    """Validate an uploaded selfie and re-encode it upright and without metadata.

    JPEG stays JPEG, PNG stays PNG, WebP stays WebP; HEIC and AVIF become JPEG (transparency
    flattened on white). Animated PNG/WebP/AVIF and multi-picture JPEG/HEIC keep their first
    (primary) frame. Raises ImageRejected (415 / 413 / 400).
    """
    return _sanitized(raw, max_bytes=max_bytes, max_pixels=max_pixels)[0]


def sanitize_upload_with_preview(
    raw: bytes,
    *,
    preview_long_side: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[SanitizedImage, Thumbnail]:
    """`sanitize_upload`, and a JPEG preview of the same clean pixels whose longer side is at
    most `preview_long_side`: one decode for both (a 40-megapixel WebP takes seconds)."""
    if preview_long_side < 1:
        raise ValueError("preview_long_side must be positive")
    sanitized, clean = _sanitized(raw, max_bytes=max_bytes, max_pixels=max_pixels)
    return sanitized, _thumbnail_of(clean, preview_long_side)


def _sanitized(raw: bytes, *, max_bytes: int, max_pixels: int
               ) -> tuple[SanitizedImage, Image.Image]:
    """The upload re-encoded, and the clean pixels it was encoded from."""
    image, fmt = open_checked(raw, max_bytes=max_bytes, max_pixels=max_pixels,
                              accept=UPLOAD_FORMATS)
    stored = JPEG if fmt in (HEIC, AVIF) else fmt
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise InvalidImage(
            f"The image is {width}x{height} pixels; each side must be at least {MIN_SIDE} pixels."
        )
    clean = clean_pixels(image, keep_alpha=stored is not JPEG)
    data = encode_image(clean, stored)
    return SanitizedImage(
        data=data,
        content_type=stored.content_type,
        extension=stored.extension,
        width=clean.width,
        height=clean.height,
    ), clean


def make_thumbnail(data: bytes, *, long_side: int = 320) -> bytes:
    """A JPEG whose longer side is at most `long_side` pixels (never upscaled)."""
    if long_side < 1:
        raise ValueError("long_side must be positive")
    image, _ = open_checked(data, max_bytes=RESULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS)
    # Let the JPEG decoder downscale by a power of two while decoding (a no-op for PNG/WebP).
    image.draft(None, (long_side * 2, long_side * 2))
    _decode(image)
    return _thumbnail_of(image, long_side).data


def _thumbnail_of(decoded: Image.Image, long_side: int) -> Thumbnail:
    upright = _apply_orientation(decoded)
    # BOX (an area average): the shrink left after the JPEG's scaled decode is less than 2x
    # (512 -> 320), where every filter averages all source pixels (Pillow widens its support
    # with the ratio), so none aliases. Against a LANCZOS shrink of the full-size image, BOX's
    # 320 px thumbnail is 43.9 dB PSNR, BILINEAR's 47.8, BICUBIC's 51.3: each loses less than
    # the JPEG encoding at quality 85 then does. BOX is the cheapest of them, and the thumbnail
    # is made in every job (the measurements: docs/performance.md).
    # Exports, which users see full size, keep LANCZOS.
    upright.thumbnail((long_side, long_side), Image.Resampling.BOX)
    data = encode_image(_normalise_mode(upright, keep_alpha=False), JPEG, quality=THUMBNAIL_QUALITY)
    return Thumbnail(data, upright.width, upright.height)


def crop_to_aspect(data: bytes, ratio: str, *, long_side: int = 512) -> Thumbnail:
    """A JPEG of the image's centre cut to `ratio` ("width:height"), its longer side at most
    `long_side` (never upscaled): the "before" of a swipe-to-compare, so it lines up with a
    result of that shape (§13). Re-encoded from pixels, so no metadata survives."""
    if long_side < 1:
        raise ValueError("long_side must be positive")
    ratio_width, ratio_height = (int(part) for part in ratio.split(":"))
    image, _ = open_checked(data, max_bytes=RESULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS)
    # A JPEG decodes scaled down while both sides stay at least `long_side`, so the crop's
    # longer side (at least the image's shorter side) still needs no upscaling.
    image.draft(None, (long_side, long_side))
    _decode(image)
    upright = _apply_orientation(image)
    # The largest box of that shape inside the image, centred.
    if upright.width * ratio_height > upright.height * ratio_width:  # wider: trim the sides
        width, height = round(upright.height * ratio_width / ratio_height), upright.height
    else:  # taller: trim top and bottom
        width, height = upright.width, round(upright.width * ratio_height / ratio_width)
    left, top = (upright.width - width) // 2, (upright.height - height) // 2
    cropped = upright.crop((left, top, left + width, top + height))
    if max(cropped.size) > long_side:
        scale = long_side / max(cropped.size)
        cropped = cropped.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                 Image.Resampling.BOX)
    data = encode_image(_normalise_mode(cropped, keep_alpha=False), JPEG,
                        quality=THUMBNAIL_QUALITY)
    return Thumbnail(data, cropped.width, cropped.height)


def read_result_image(
    data: bytes,
    *,
    max_bytes: int = RESULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[str, int, int]:
    """Check that generator output is a complete JPEG/PNG/WebP; return (content type, w, h),
    the size it shows at (turned as its EXIF orientation says)."""
    image, fmt = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    _decode(image)
    return (fmt.content_type, *_shown_size(image))


def read_result_image_with_thumbnail(
    data: bytes,
    *,
    long_side: int = 320,
    max_bytes: int = RESULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> CheckedResult:
    """`read_result_image` and `make_thumbnail` from one decode.

    Only the thumbnail uses the pixels (the result is stored as GetImg sent it), so a JPEG is
    decoded at the smallest power-of-two scale still at least `long_side` (1024 -> 512): the
    decoder still reads every byte of the stream, so a truncated one is still refused, and the
    shrink starts from a quarter of the pixels, so decode and shrink together cost less than
    the full-size shrink alone did (tests/unit/test_images.py checks the refusal)."""
    if long_side < 1:
        raise ValueError("long_side must be positive")
    image, fmt = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels)
    width, height = _shown_size(image)  # before the scaled decode shrinks it
    image.draft(None, (long_side, long_side))  # a no-op for PNG and WebP
    _decode(image)
    return CheckedResult(fmt.content_type, width, height, _thumbnail_of(image, long_side))
