"""The export of a finished headshot (media/export.py), on images built with Pillow."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import cast

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat, PngImagePlugin

from api.errors import http_status
from media import fonts
from media.export import (
    MAX_LONG_SIDE,
    MAX_WATERMARK_CHARS,
    MIN_LONG_SIDE,
    ExportedImage,
    export_image,
)
from media.formats import JPEG, PNG, WEBP, ImageFormat, sniff
from media.images import InvalidImage
from models.errors import InvalidRequest
from tests.support.assets import SELFIE

MAGIC = {JPEG: b"\xff\xd8\xff", PNG: b"\x89PNG\r\n\x1a\n", WEBP: b"RIFF"}


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """A smooth, non-uniform picture (so a resize or a watermark shows in the pixels)."""
    red = Image.linear_gradient("L").resize((width, height))
    green = red.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    return Image.merge("RGB", (red, green, Image.new("L", (width, height), 96)))


def source(width: int = 600, height: int = 400, fmt: str = "PNG") -> bytes:
    return encode(gradient(width, height), fmt)


def decoded(result: ExportedImage) -> Image.Image:
    image = Image.open(BytesIO(result.data))
    image.load()
    return image


def luminance_range(image: Image.Image) -> tuple[int, int]:
    low, high = cast(tuple[int, int], image.convert("L").getextrema())
    return low, high


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return cast(tuple[int, ...], image.getpixel(xy))


def refused(**kwargs: object) -> InvalidRequest:
    params: dict = {"fmt": PNG, **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        export_image(params.pop("source", source()), **params)
    assert http_status(caught.value) == 400
    return caught.value


# --- format ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [JPEG, PNG, WEBP], ids=lambda f: f.extension)
@pytest.mark.parametrize("source_format", ["JPEG", "PNG", "WEBP"])
def test_each_format_by_its_magic_bytes(fmt: ImageFormat, source_format: str) -> None:
    result = export_image(source(fmt=source_format), fmt=fmt)
    assert result.data.startswith(MAGIC[fmt])
    assert sniff(result.data) is fmt
    assert result.format.content_type == fmt.content_type
    image = decoded(result)
    assert image.format == fmt.pillow_name
    assert image.mode == "RGB"
    assert (result.width, result.height) == image.size == (600, 400)


def test_an_unknown_format_is_a_bad_format_parameter() -> None:
    gif = ImageFormat("image/gif", "gif", ("GIF",))
    assert refused(fmt=gif).message.startswith("format:")


def test_a_broken_source_is_an_invalid_image() -> None:
    with pytest.raises(InvalidImage):
        export_image(source()[:200], fmt=PNG)


# --- size ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((600, 400), 300, (300, 200)),
        ((400, 600), 300, (200, 300)),
        ((1000, 333), 100, (100, 33)),
        ((2000, 1000), MIN_LONG_SIDE, (64, 32)),
        ((600, 400), 600, (600, 400)),
    ],
)
def test_downscale_to_the_long_side_keeping_the_aspect_ratio(
    size: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    result = export_image(source(*size), fmt=JPEG, long_side=long_side)
    assert (result.width, result.height) == decoded(result).size == expected
    assert abs(expected[0] / expected[1] - size[0] / size[1]) < 2 / min(expected)


@pytest.mark.parametrize("long_side", [601, 1024, MAX_LONG_SIDE, None])
def test_never_upscaled_past_the_source(long_side: int | None) -> None:
    result = export_image(source(600, 400), fmt=PNG, long_side=long_side)
    assert decoded(result).size == (result.width, result.height) == (600, 400)


def test_the_resize_is_a_real_resample_not_a_crop() -> None:
    original = gradient(600, 400)
    result = decoded(export_image(encode(original, "PNG"), fmt=PNG, long_side=300))
    expected = original.resize((300, 200), Image.Resampling.LANCZOS)
    assert max(ImageStat.Stat(ImageChops.difference(result, expected)).extrema[0]) <= 2


@pytest.mark.parametrize("long_side", [0, -1, MIN_LONG_SIDE - 1, MAX_LONG_SIDE + 1, 10**9])
def test_a_size_out_of_bounds_is_refused(long_side: int) -> None:
    error = refused(long_side=long_side)
    assert error.message.startswith("size:")
    assert str(MIN_LONG_SIDE) in error.message and str(MAX_LONG_SIDE) in error.message


@pytest.mark.parametrize("long_side", [True, 512.0, "512"])
def test_a_size_that_is_not_an_integer_is_refused(long_side: object) -> None:
    assert refused(long_side=long_side).message.startswith("size:")


# --- watermark -------------------------------------------------------------------------------


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()


@pytest.mark.parametrize("fmt", [PNG, JPEG, WEBP], ids=lambda f: f.extension)
def test_the_watermark_is_drawn_in_the_bottom_right_corner(fmt: ImageFormat) -> None:
    raw = source(800, 600)
    plain = decoded(export_image(raw, fmt=fmt))
    marked = decoded(export_image(raw, fmt=fmt, watermark="© Jane Doe 2026"))
    assert marked.size == plain.size == (800, 600)
    if fmt is PNG:  # lossless: only the watermark's own box differs
        box = changed_box(plain, marked)
        assert box is not None
        left, top, right, bottom = box
        assert left > 400 and top > 500 and right <= 800 and bottom <= 600
        assert right < 800 and bottom < 600  # a margin from the edges
    corner = (650, 560, 790, 590)
    top_left = (0, 0, 200, 200)
    corner_diff = ImageChops.difference(plain.crop(corner), marked.crop(corner))
    assert max(ImageStat.Stat(corner_diff).extrema[0]) > 100
    assert changed_box(plain.crop(top_left), marked.crop(top_left)) is None
    # White text on a dark backdrop: the corner gets near-white pixels and darkened ones.
    plain_low, _ = luminance_range(plain.crop(corner))
    low, high = luminance_range(marked.crop(corner))
    assert high > 240 and low < 0.6 * plain_low


def test_the_watermark_is_proportional_to_the_image() -> None:
    def box_height(size: int) -> int:
        raw = source(size, size)
        box = changed_box(decoded(export_image(raw, fmt=PNG)),
                          decoded(export_image(raw, fmt=PNG, watermark="Jane")))
        assert box is not None
        return box[3] - box[1]

    assert box_height(2000) > 3 * box_height(400)


@pytest.mark.parametrize(
    "text",
    ["Café – Zoë", "Ωμέγα Привет", "© Jane Doe 2026 ™ € ½", "שלום مرحبا", "Cafe\u0301"],
)
def test_unicode_the_font_has_is_drawn(text: str) -> None:
    raw = source(640, 480)
    marked = export_image(raw, fmt=PNG, watermark=text)
    assert changed_box(decoded(export_image(raw, fmt=PNG)), decoded(marked)) is not None


@pytest.mark.parametrize(("char", "code"), [("🦄", "U+1F984"), ("𐀀", "U+10000"),
                                           ("𓀀", "U+13000")])
def test_a_character_no_installed_font_has_is_refused(char: str, code: str) -> None:
    error = refused(watermark=f"Jane {char} Doe")
    assert error.message == (f"watermark: the character '{char}' ({code}) is not available "
                             f"in any installed font.")


@pytest.mark.parametrize("text", ["a\x00b", "tab\there", "two\nlines", "rtl\u202eoverride",
                                  "zero\u200bwidth", "bell\x07"])
def test_control_and_invisible_characters_are_refused(text: str) -> None:
    assert refused(watermark=text).message.startswith("watermark:")


def test_too_long_a_watermark_is_refused_after_stripping() -> None:
    longest = "x" * MAX_WATERMARK_CHARS
    export_image(source(), fmt=PNG, watermark=f"  {longest}  ")
    error = refused(watermark=longest + "y")
    assert error.message.startswith("watermark:") and str(MAX_WATERMARK_CHARS) in error.message


@pytest.mark.parametrize("text", [None, "", "   "])
def test_no_watermark(text: str | None) -> None:
    raw = source()
    assert export_image(raw, fmt=PNG, watermark=text).data == export_image(raw, fmt=PNG).data


def test_long_text_on_a_small_image_gets_a_smaller_font_and_stays_inside() -> None:
    raw = source(640, 640)
    text = "© 2026 Jane Doe Photography — Ωμέγα Привет — all rights reserved"
    assert len(text) == MAX_WATERMARK_CHARS
    box = changed_box(decoded(export_image(raw, fmt=PNG)),
                      decoded(export_image(raw, fmt=PNG, watermark=text)))
    assert box is not None
    left, top, right, bottom = box
    assert left > 0 and right < 640 and bottom < 640
    short = changed_box(decoded(export_image(raw, fmt=PNG)),
                        decoded(export_image(raw, fmt=PNG, watermark="W")))
    assert short is not None and (bottom - top) < (short[3] - short[1])


def test_text_that_cannot_fit_even_at_the_smallest_font_is_refused() -> None:
    error = refused(source=source(64, 64), watermark="W" * MAX_WATERMARK_CHARS)
    assert error.message.startswith("watermark:") and "64x64" in error.message


def test_a_missing_font_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = fonts.WatermarkFont(Path("/nonexistent/DejaVuSans.ttf"), "fonts-dejavu-core",
                                  frozenset({"Latn"}))
    monkeypatch.setattr(fonts, "WATERMARK_FONTS", (missing,))
    fonts._cmap.cache_clear()
    try:
        export_image(source(), fmt=PNG)  # no watermark: no font needed
        with pytest.raises(RuntimeError, match="fonts-dejavu-core"):
            export_image(source(), fmt=PNG, watermark="Jane")
    finally:
        fonts._cmap.cache_clear()


# --- what leaves -----------------------------------------------------------------------------


def source_with_metadata(fmt: str) -> bytes:
    image = gradient(300, 200)
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPSInfo: GPSLatitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    params: dict[str, object] = {"exif": exif.tobytes(), "icc_profile": icc}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "secret text chunk")
        info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
        params["pnginfo"] = info
    if fmt == "JPEG":
        params["comment"] = b"secret comment"
    return encode(image, fmt, **params)


@pytest.mark.parametrize("fmt", [JPEG, PNG, WEBP], ids=lambda f: f.extension)
@pytest.mark.parametrize("source_format", ["JPEG", "PNG", "WEBP"])
def test_no_metadata_leaves(fmt: ImageFormat, source_format: str) -> None:
    raw = source_with_metadata(source_format)
    assert b"SecretCam" in raw
    result = export_image(raw, fmt=fmt, watermark="Jane")
    image = decoded(result)
    assert not {"exif", "icc_profile", "xmp", "comment", "Comment"} & image.info.keys()
    assert not image.getexif()
    for marker in (b"SecretCam", b"secret", b"Exif\x00", b"iCCP", b"tEXt", b"iTXt", b"zTXt",
                   b"eXIf", b"ICCP", b"EXIF", b"XMP ", b"ICC_PROFILE"):
        assert marker not in result.data


# --- transparency ----------------------------------------------------------------------------


def transparent_source() -> bytes:
    image = Image.new("RGBA", (200, 200), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (50, 50, 150, 150))
    return encode(image, "PNG")


@pytest.mark.parametrize("fmt", [PNG, WEBP], ids=lambda f: f.extension)
def test_png_and_webp_keep_transparency(fmt: ImageFormat) -> None:
    image = decoded(export_image(transparent_source(), fmt=fmt))
    assert image.mode == "RGBA"
    assert pixel(image, (5, 5))[3] == 0 and pixel(image, (100, 100))[3] == 255


def test_jpeg_flattens_transparency_on_white() -> None:
    image = decoded(export_image(transparent_source(), fmt=JPEG, watermark="Jane"))
    assert image.mode == "RGB"
    assert all(channel > 245 for channel in pixel(image, (5, 5)))


def test_the_sample_selfie_exports_with_a_watermark() -> None:
    result = export_image(SELFIE.read_bytes(), fmt=JPEG, long_side=1024,
                          watermark="© Jane Doe 2026")
    assert (result.width, result.height) == (512, 512)  # the sample is 512 px: no upscale
    assert result.data.startswith(MAGIC[JPEG])
