"""The export of a finished headshot: re-encoded in the asked format, resized, watermarked.

The stored result is opened the way uploads are (media/images.py: content-sniffed, dimensions
checked before decoding), and re-encoded from pixels, so no metadata leaves with the export.
The watermark is drawn in the fonts media/fonts.py picks per script (Latin, Greek, Cyrillic,
Arabic, Hebrew, Devanagari and the other Indic scripts, Chinese, Japanese, Korean and more),
shaped by Pillow's Raqm layout; a character no installed font has is refused, never drawn as
a "missing glyph" box.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw

from media.fonts import Run, font_for, pillow_font, visual_runs
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

FONT_SCALE = 0.04  # the watermark's font size, as a share of the image's short side
MIN_FONT_PX = 12  # below this DejaVu Sans stops being legible
MARGIN_SCALE = 0.025  # distance from the image's edges, as a share of the short side
BACKDROP_RGBA = (0, 0, 0, 150)  # dark enough for white text on any photo, still see-through
TEXT_RGB = (255, 255, 255)

# Cc/Cf/Co/Cs/Cn and line/paragraph separators: invisible, or (U+202E) reorder the text shown.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Except the zero-width non-joiner and joiner: part of how some names are spelled (Persian
# "علی‌زاده" keeps its parts unjoined; Indic scripts choose half forms with them). They only
# steer the shaping of the letters around them.
_JOINER_CONTROLS = frozenset({"\u200c", "\u200d"})


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
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINER_CONTROLS:
            raise InvalidRequest(
                f"watermark: control and invisible characters are not allowed "
                f"(U+{ord(char):04X})."
            )
    if not text:
        return ""
    for char in text:
        if font_for(char) is None:
            raise InvalidRequest(
                f"watermark: the character '{char}' (U+{ord(char):04X}) is not available "
                f"in any installed font."
            )
    return text


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
    runs = visual_runs(text)
    while True:
        placed = _placed(runs, size)
        pad = max(2, round(size * 0.35))
        # The ink box at the baseline, so the backdrop hugs what is drawn (not the ascent).
        left, top, right, bottom = _ink_box(placed)
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
    draw = ImageDraw.Draw(marked)
    origin_x, baseline = x0 + pad - left, y0 + pad - top
    for run, x, _ in placed:
        draw.text((origin_x + x, baseline), run.text, font=pillow_font(run.font, size),
                  fill=TEXT_RGB, anchor="ls", direction=run.direction)
    return marked


_Placed = list[tuple[Run, float, tuple[float, float, float, float]]]


def _placed(runs: list[Run], size: int) -> _Placed:
    """Each run (in display order), the pen position it starts at on the baseline, and its
    ink box relative to that position."""
    placed: _Placed = []
    x = 0.0
    for run in runs:
        font = pillow_font(run.font, size)
        placed.append((run, x, font.getbbox(run.text, anchor="ls", direction=run.direction)))
        x += font.getlength(run.text, direction=run.direction)
    return placed


def _ink_box(placed: _Placed) -> tuple[int, int, int, int]:
    """The box around every run's ink, relative to the first run's pen position."""
    left = min(x + box[0] for _, x, box in placed)
    right = max(x + box[2] for _, x, box in placed)
    top = min(box[1] for _, _, box in placed)
    bottom = max(box[3] for _, _, box in placed)
    return int(left), int(top), round(right + 0.5), round(bottom + 0.5)
