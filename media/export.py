"""The export of a finished headshot: re-encoded in the asked format, resized, watermarked.

The stored result is opened the way uploads are (media/images.py: content-sniffed, dimensions
checked before decoding), and re-encoded from pixels, so no metadata leaves with the export.
The watermark uses DejaVu Sans from Debian's `fonts-dejavu-core`; which characters it can draw
is read from the font's own character map (fontTools), because Pillow silently draws a
"missing glyph" box for the others.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from media.formats import FORMATS, JPEG, ImageFormat
from media.images import (
    DEFAULT_MAX_PIXELS,
    RESULT_MAX_BYTES,
    clean_pixels,
    encode_image,
    open_checked,
)
from models.errors import InvalidRequest

MIN_LONG_SIDE = 64
MAX_LONG_SIDE = 4096
MAX_WATERMARK_CHARS = 64

FONT_PACKAGE = "fonts-dejavu-core"  # the Debian package that ships FONT_PATH
FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_SCALE = 0.04  # the watermark's font size, as a share of the image's short side
MIN_FONT_PX = 12  # below this DejaVu Sans stops being legible
MARGIN_SCALE = 0.025  # distance from the image's edges, as a share of the short side
BACKDROP_RGBA = (0, 0, 0, 150)  # dark enough for white text on any photo, still see-through
TEXT_RGB = (255, 255, 255)

# Cc/Cf/Co/Cs/Cn and line/paragraph separators: invisible, or (U+202E) reorder the text shown.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


@dataclass(frozen=True)
class ExportedImage:
    data: bytes
    format: ImageFormat  # content_type and extension (for Content-Disposition)
    width: int
    height: int


def export_image(
    source: bytes,
    *,
    fmt: ImageFormat,
    long_side: int | None = None,
    watermark: str | None = None,
) -> ExportedImage:
    """`source` (a stored JPEG/PNG/WebP result) as `fmt`, its long side at most `long_side`.

    Never upscales: a `long_side` above the result's own gives the result's size. Raises
    InvalidRequest ("format: …", "size: …", "watermark: …") for parameters out of bounds and
    ImageRejected if `source` is not a sound image. Parameters are checked before decoding,
    except whether the watermark fits, which depends on the result's size.
    """
    if fmt not in FORMATS:
        raise InvalidRequest(f"format: must be one of {', '.join(f.extension for f in FORMATS)}.")
    _check_long_side(long_side)
    text = _check_watermark(watermark)

    image, _ = open_checked(source, max_bytes=RESULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS)
    # No JPEG draft-mode decoding here (unlike thumbnails): exports are rare and are the
    # quality people pay for, so LANCZOS works from full-resolution pixels.
    # JPEG has no alpha: transparent areas are flattened on white; PNG and WebP keep it.
    pixels = clean_pixels(image, keep_alpha=fmt is not JPEG)
    pixels = _resize(pixels, long_side)
    if text:
        pixels = _draw_watermark(pixels, text)
    return ExportedImage(encode_image(pixels, fmt), fmt, pixels.width, pixels.height)


def _check_long_side(long_side: int | None) -> None:
    if long_side is None:
        return
    if isinstance(long_side, bool) or not isinstance(long_side, int):
        raise InvalidRequest("size: must be a whole number of pixels.")
    if not MIN_LONG_SIDE <= long_side <= MAX_LONG_SIDE:
        raise InvalidRequest(
            f"size: must be between {MIN_LONG_SIDE} and {MAX_LONG_SIDE} pixels (the long "
            f"side), not {long_side}."
        )


def _check_watermark(watermark: str | None) -> str:
    """The text to draw ('' for none), NFC-normalised so 'e' + U+0301 counts as one 'é'."""
    if watermark is None:
        return ""
    text = unicodedata.normalize("NFC", watermark).strip()
    if len(text) > MAX_WATERMARK_CHARS:
        raise InvalidRequest(
            f"watermark: at most {MAX_WATERMARK_CHARS} characters, not {len(text)}."
        )
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidRequest(
                f"watermark: control and invisible characters are not allowed "
                f"(U+{ord(char):04X})."
            )
    if not text:
        return ""
    covered = _font_cmap()
    for char in text:
        if ord(char) not in covered:
            raise InvalidRequest(
                f"watermark: the character '{char}' (U+{ord(char):04X}) is not available."
            )
    return text


@cache
def _font_bytes() -> bytes:
    # Read once per process; a missing font is a deployment error, never a quiet fallback to
    # Pillow's bitmap font (unreadable at photo sizes and without most of Unicode).
    try:
        return FONT_PATH.read_bytes()
    except OSError as exc:
        raise RuntimeError(
            f"The watermark font {FONT_PATH} is missing: install the Debian package "
            f"{FONT_PACKAGE}."
        ) from exc


@cache
def _font_cmap() -> frozenset[int]:
    """The code points the font has a glyph for."""
    return frozenset(TTFont(BytesIO(_font_bytes()), lazy=True).getBestCmap())


@lru_cache(maxsize=16)  # one per size in use; parsing the 760 KB font per export is waste
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(BytesIO(_font_bytes()), size)


def _resize(image: Image.Image, long_side: int | None) -> Image.Image:
    width, height = image.size
    longest = max(width, height)
    if long_side is None or long_side >= longest:
        return image
    scale = long_side / longest
    # The long side is exactly `long_side`; the short side rounds, so the ratio is kept.
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _draw_watermark(image: Image.Image, text: str) -> Image.Image:
    """`text` in white on a dark rounded backdrop in the bottom-right corner, inside the image."""
    width, height = image.size
    short = min(width, height)
    margin = max(2, round(short * MARGIN_SCALE))
    size = max(MIN_FONT_PX, round(short * FONT_SCALE))
    while True:
        font = _font(size)
        pad = max(2, round(size * 0.35))
        # The ink box at the baseline, so the backdrop hugs what is drawn (not the ascent).
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
        if box_w <= width - 2 * margin and box_h <= height - 2 * margin:
            break
        if size <= MIN_FONT_PX:
            raise InvalidRequest(
                f"watermark: the text does not fit on a {width}x{height} image; use a "
                f"shorter text or a larger size."
            )
        # Shrink in proportion to the overflow; the loop re-measures (hinting is not linear).
        fit = min((width - 2 * margin) / box_w, (height - 2 * margin) / box_h)
        size = max(MIN_FONT_PX, min(size - 1, int(size * fit)))

    x1, y1 = width - margin, height - margin
    x0, y0 = x1 - box_w, y1 - box_h
    # The backdrop is blended through a layer; the text is then drawn straight onto the
    # pixels, so its anti-aliased edges blend with what lies beneath.
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rounded_rectangle(
        (x0, y0, x1 - 1, y1 - 1), radius=pad, fill=BACKDROP_RGBA
    )
    marked = Image.alpha_composite(image.convert("RGBA"), overlay)
    if image.mode != "RGBA":
        marked = marked.convert("RGB")
    ImageDraw.Draw(marked).text(
        (x0 + pad - left, y0 + pad - top), text, font=font, fill=TEXT_RGB, anchor="ls"
    )
    return marked
