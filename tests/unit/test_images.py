"""Upload sanitising and image operations, on real files built with Pillow or by hand."""

from __future__ import annotations

import base64
import struct
import time
import warnings
import zlib
from io import BytesIO

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageFile, ImageStat, PngImagePlugin

from api.errors import http_status
from media.formats import data_url
from media.images import (
    ImageRejected,
    ImageTooLarge,
    SanitizedImage,
    make_thumbnail,
    read_result_image,
    read_result_image_with_thumbnail,
    sanitize_upload,
    sanitize_upload_with_preview,
)
from tests.support.assets import SELFIE, SELFIE_WITH_GPS

# --- helpers -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(size: tuple[int, int] = (160, 120), mode: str = "RGB") -> Image.Image:
    """A non-uniform picture, so rotations and re-encodes are visible."""
    width, height = size
    image = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image))
    rgb.paste((255, 0, 0), (0, 0, width // 4, height // 4))  # a red corner marks "top-left"
    return rgb.convert(mode)


def open_image(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_chunk_types(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        types.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def jpeg_markers(data: bytes) -> list[int]:
    """Marker bytes of the segments before the entropy-coded data (SOS)."""
    assert data[:2] == b"\xff\xd8"
    markers, offset = [], 2
    while offset < len(data):
        assert data[offset] == 0xFF
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:  # SOS: image data follows
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return markers


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG declaring width x height, with only a few bytes of pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def rejected(raw: bytes, **limits: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        sanitize_upload(raw, **limits)
    return caught.value


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SpyCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    return exif


# --- accepted uploads ----------------------------------------------------------------------


def test_sample_selfie_is_accepted_as_jpeg() -> None:
    result = sanitize_upload(SELFIE.read_bytes())
    assert isinstance(result, SanitizedImage)
    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    assert (result.width, result.height) == (512, 512)
    image = open_image(result.data)
    assert image.format == "JPEG" and image.mode == "RGB" and image.size == (512, 512)


def test_exif_orientation_is_applied_and_gps_removed() -> None:
    raw = SELFIE_WITH_GPS.read_bytes()
    source = Image.open(BytesIO(raw))
    assert source.size == (512, 384)  # stored sideways...
    assert source.getexif()[ExifTags.Base.Orientation] == 6  # ...with orientation 6
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # and a GPS block

    result = sanitize_upload(raw)

    assert (result.width, result.height) == (384, 512)  # dimensions swapped: now upright
    image = open_image(result.data)
    assert image.size == (384, 512)
    assert len(image.getexif()) == 0
    assert "exif" not in image.info
    for needle in (b"Exif", b"FakeCam", b"GPS", b"headshots-test-fixture"):
        assert needle not in result.data
    assert 0xE1 not in jpeg_markers(result.data)  # no APP1 (EXIF/XMP) segment at all
    # The pixels really are rotated: compare with rotating the stored pixels by hand.
    expected = source.transpose(Image.Transpose.ROTATE_270).convert("RGB")
    difference = ImageStat.Stat(ImageChops.difference(expected, image)).mean
    assert max(difference) < 4


@pytest.mark.parametrize(
    ("orientation", "swapped"),
    [(1, False), (2, False), (3, False), (4, False), (5, True), (6, True), (7, True), (8, True)],
)
def test_every_exif_orientation(orientation: int, swapped: bool) -> None:
    raw = encode(gradient((160, 120)), "JPEG", exif=exif_with_gps(orientation).tobytes())
    result = sanitize_upload(raw)
    assert (result.width, result.height) == ((120, 160) if swapped else (160, 120))
    assert len(open_image(result.data).getexif()) == 0


def test_jpeg_comments_xmp_and_icc_are_removed() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>home address</secret></x:xmpmeta>'
    raw = encode(
        gradient(),
        "JPEG",
        comment=b"secret comment",
        icc_profile=srgb,
        xmp=xmp,
        exif=exif_with_gps().tobytes(),
    )
    assert b"secret comment" in raw and b"home address" in raw
    result = sanitize_upload(raw)
    assert b"secret" not in result.data and b"home address" not in result.data
    markers = jpeg_markers(result.data)
    assert 0xFE not in markers  # COM
    assert not [m for m in markers if 0xE1 <= m <= 0xEF]  # APP1..APP15: EXIF, XMP, ICC, ...
    image = open_image(result.data)
    assert "icc_profile" not in image.info and "comment" not in image.info


def test_png_text_chunks_exif_and_icc_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret text")
    info.add_text("Location", "secret place", zip=True)
    info.add_itxt("Description", "secret itxt", lang="en")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = encode(
        gradient(),
        "PNG",
        pnginfo=info,
        exif=exif_with_gps().tobytes(),
        icc_profile=srgb,
        dpi=(300, 300),
    )
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"} <= set(png_chunk_types(raw))

    result = sanitize_upload(raw)

    assert (result.content_type, result.extension) == ("image/png", "png")
    assert set(png_chunk_types(result.data)) == {b"IHDR", b"IDAT", b"IEND"}
    assert b"secret" not in result.data
    image = open_image(result.data)
    assert image.format == "PNG" and image.mode == "RGB" and image.info == {}


def test_webp_stays_webp_without_metadata() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret xmp</x:xmpmeta>'
    raw = encode(gradient(), "WEBP", quality=90, exif=exif_with_gps(6).tobytes(), xmp=xmp)
    assert b"secret xmp" in raw
    result = sanitize_upload(raw)
    assert (result.content_type, result.extension) == ("image/webp", "webp")
    assert (result.width, result.height) == (120, 160)  # orientation 6 applied
    assert b"EXIF" not in result.data and b"XMP" not in result.data
    assert b"secret" not in result.data
    image = open_image(result.data)
    assert image.format == "WEBP" and len(image.getexif()) == 0


def test_jpeg_with_appended_zip_is_reencoded_without_the_payload() -> None:
    payload = b"PK\x03\x04" + b"malicious.js" + b"\x00" * 100 + b"PK\x05\x06" + b"\x00" * 18
    raw = SELFIE.read_bytes() + payload
    result = sanitize_upload(raw)
    assert result.content_type == "image/jpeg"
    assert b"PK\x03\x04" not in result.data and b"malicious" not in result.data
    assert result.data.endswith(b"\xff\xd9")  # ends at the JPEG end-of-image marker


def test_cmyk_jpeg_becomes_rgb() -> None:
    result = sanitize_upload(encode(gradient(mode="CMYK"), "JPEG", quality=95))
    image = open_image(result.data)
    assert image.mode == "RGB"
    red = image.getpixel((5, 5))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60 and red[2] < 60


def test_grayscale_jpeg_becomes_rgb() -> None:
    result = sanitize_upload(encode(gradient(mode="L"), "JPEG"))
    assert open_image(result.data).mode == "RGB"


def test_palette_png_with_transparency_keeps_alpha() -> None:
    image = Image.new("P", (100, 100), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (50, 0, 100, 100))
    raw = encode(image, "PNG", transparency=0)
    result = open_image(sanitize_upload(raw).data)
    assert result.mode == "RGBA"
    assert result.getpixel((10, 10)) == (255, 0, 0, 0)  # transparent
    assert result.getpixel((80, 10)) == (0, 0, 255, 255)  # opaque blue


def test_gray_alpha_png_becomes_rgba() -> None:
    image = Image.merge("LA", (Image.new("L", (80, 80), 200), Image.new("L", (80, 80), 128)))
    result = open_image(sanitize_upload(encode(image, "PNG")).data)
    assert result.mode == "RGBA"
    assert result.getpixel((1, 1)) == (200, 200, 200, 128)


def test_16_bit_grayscale_png_is_scaled_not_clipped() -> None:
    row = struct.pack("<50H", *[65535] * 50) + struct.pack("<50H", *[32768] * 50)
    image = Image.frombytes("I;16", (100, 100), row * 100)
    result = open_image(sanitize_upload(encode(image, "PNG")).data)
    assert result.mode == "RGB"
    assert result.getpixel((10, 10)) == (255, 255, 255)
    assert result.getpixel((90, 10)) == (128, 128, 128)  # clipping would give 255


def test_bilevel_png_becomes_rgb() -> None:
    image = Image.new("1", (90, 90), 1)
    result = open_image(sanitize_upload(encode(image, "PNG")).data)
    assert result.mode == "RGB" and result.getpixel((3, 3)) == (255, 255, 255)


def test_animated_png_keeps_only_the_first_frame() -> None:
    frames = [Image.new("RGB", (80, 80), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    raw = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(BytesIO(raw)), "n_frames", 1) == 2
    result = sanitize_upload(raw)
    image = open_image(result.data)
    assert getattr(image, "n_frames", 1) == 1
    assert b"acTL" not in result.data and b"fcTL" not in result.data
    assert image.getpixel((40, 40)) == (255, 0, 0)


def test_animated_webp_keeps_only_the_first_frame() -> None:
    frames = [Image.new("RGB", (80, 80), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    raw = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert getattr(Image.open(BytesIO(raw)), "n_frames", 1) == 2
    image = open_image(sanitize_upload(raw).data)
    assert getattr(image, "n_frames", 1) == 1
    red = image.getpixel((40, 40))
    assert isinstance(red, tuple) and red[0] > 240 and red[2] < 15


def test_multi_picture_jpeg_is_accepted_as_jpeg() -> None:
    frames = [gradient(), gradient().transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    raw = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(BytesIO(raw)).format == "MPO"
    result = sanitize_upload(raw)
    assert result.content_type == "image/jpeg"
    assert open_image(result.data).format == "JPEG"


def test_accepts_bytearray_and_memoryview() -> None:
    raw = SELFIE.read_bytes()
    assert sanitize_upload(bytearray(raw)).width == 512  # type: ignore[arg-type]
    assert sanitize_upload(memoryview(raw)).width == 512  # type: ignore[arg-type]


# --- refused uploads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GIF89a" + b"\x00" * 100, id="gif-header"),
        pytest.param(b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
        pytest.param(b"  <svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", id="bare-svg"),
        pytest.param(b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF", id="pdf"),
        pytest.param(b"hello, this is not an image\n", id="text"),
        pytest.param(b"<html><img src=x onerror=alert(1)></html>", id="html"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, id="riff-wave"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 60, id="zip"),
        pytest.param(b"GIF89a" + SELFIE.read_bytes()[:4000], id="gif-jpeg-polyglot"),
    ],
)
def test_non_images_and_other_formats_are_415(raw: bytes) -> None:
    error = rejected(raw)
    assert (error.code, http_status(error)) == ("unsupported_media_type", 415)
    assert "JPEG, PNG, WebP, HEIC or AVIF" in str(error)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM"])
def test_real_images_in_other_formats_are_415(fmt: str) -> None:
    error = rejected(encode(gradient((128, 128)), fmt))
    assert (error.code, http_status(error)) == ("unsupported_media_type", 415)


def test_gif_named_like_a_jpeg_is_still_a_gif() -> None:
    # The filename never matters: only bytes reach sanitize_upload, and these are a GIF.
    error = rejected(encode(gradient((128, 128)), "GIF"))
    assert "GIF" in str(error)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50, id="png-header-then-garbage"),
        pytest.param(b"\xff\xd8\xff" + b"\x00" * 300, id="jpeg-magic-then-zeros"),
        pytest.param(b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x01" * 40, id="webp-header-garbage"),
        pytest.param(b"", id="empty"),
    ],
)
def test_corrupt_files_with_a_valid_magic_are_400(raw: bytes) -> None:
    error = rejected(raw)
    assert (error.code, http_status(error)) == ("invalid_image", 400)


def test_truncated_jpeg_is_400() -> None:
    raw = SELFIE.read_bytes()
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    error = rejected(raw[: len(raw) // 2])
    assert (error.code, http_status(error)) == ("invalid_image", 400)
    assert "truncated" in str(error)


def test_truncated_png_is_400() -> None:
    raw = encode(gradient((400, 300)), "PNG")
    error = rejected(raw[: len(raw) * 2 // 3])
    assert (error.code, http_status(error)) == ("invalid_image", 400)


def test_png_with_corrupt_pixel_data_is_400() -> None:
    header = struct.pack(">IIBBBBB", 100, 100, 8, 2, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"this is not zlib data at all")
        + png_chunk(b"IEND", b"")
    )
    assert rejected(raw).code == "invalid_image"


def test_enabling_load_truncated_images_is_refused_loudly() -> None:
    raw = SELFIE.read_bytes()
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
            sanitize_upload(raw[: len(raw) // 2])
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_oversize_upload_is_413_before_anything_is_parsed() -> None:
    raw = b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024)  # just over 10 MiB
    error = rejected(raw)
    assert (error.code, http_status(error)) == ("image_too_large", 413)
    assert "10 MiB" in str(error)


def test_max_bytes_is_configurable() -> None:
    raw = SELFIE.read_bytes()
    assert http_status(rejected(raw, max_bytes=len(raw) - 1)) == 413
    assert sanitize_upload(raw, max_bytes=len(raw)).width == 512


def test_png_decompression_bomb_is_refused_quickly() -> None:
    raw = bomb_png(50_000, 50_000)  # 2.5 gigapixels declared, 200-odd bytes on disk
    assert len(raw) < 300
    started = time.perf_counter()
    error = rejected(raw)
    assert time.perf_counter() - started < 1.0
    assert (error.code, http_status(error)) == ("image_too_large", 413)


def test_bomb_below_pillows_limit_but_above_ours_is_refused() -> None:
    # 81 Mpx: under Pillow's MAX_IMAGE_PIXELS (so no Pillow warning), over our 40 Mpx default.
    error = rejected(bomb_png(9_000, 9_000))
    assert (error.code, http_status(error)) == ("image_too_large", 413)
    assert "9000x9000" in str(error)


def test_pillow_decompression_bomb_warning_becomes_413() -> None:
    filters_before = list(warnings.filters)
    # 100 Mpx is over Pillow's warning threshold; our own limit is raised out of the way.
    error = rejected(bomb_png(10_000, 10_000), max_pixels=200_000_000)
    assert (error.code, http_status(error)) == ("image_too_large", 413)
    assert warnings.filters == filters_before  # the temporary "error" filter was undone


def test_jpeg_declaring_huge_dimensions_is_413() -> None:
    raw = bytearray(encode(gradient(), "JPEG", quality=80))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)  # height, width
    error = rejected(bytes(raw))
    assert (error.code, http_status(error)) == ("image_too_large", 413)


def test_max_pixels_is_checked_before_decoding() -> None:
    error = rejected(SELFIE.read_bytes(), max_pixels=512 * 512 - 1)
    assert http_status(error) == 413


@pytest.mark.parametrize("size", [(63, 400), (400, 63), (16, 16), (1, 1)])
def test_tiny_images_are_400_with_the_minimum_in_the_message(size: tuple[int, int]) -> None:
    error = rejected(encode(Image.new("RGB", size, (9, 9, 9)), "PNG"))
    assert (error.code, http_status(error)) == ("invalid_image", 400)
    assert "64" in str(error)


def test_smallest_allowed_image_is_accepted() -> None:
    result = sanitize_upload(encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG"))
    assert (result.width, result.height) == (64, 64)


def test_image_rejected_carries_code_status_and_message() -> None:
    error = ImageTooLarge("too big")
    assert (error.code, http_status(error), error.message, str(error)) == (
        "image_too_large",
        413,
        "too big",
        "too big",
    )


def test_non_bytes_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        sanitize_upload("not bytes")  # type: ignore[arg-type]


# --- thumbnails, generator results, data URLs ----------------------------------------------


def test_thumbnail_of_square_selfie() -> None:
    thumbnail = open_image(make_thumbnail(SELFIE.read_bytes()))
    assert thumbnail.format == "JPEG" and thumbnail.size == (320, 320)


def test_thumbnail_keeps_aspect_ratio_and_custom_long_side() -> None:
    raw = encode(gradient((300, 600)), "PNG")
    assert open_image(make_thumbnail(raw)).size == (160, 320)
    assert open_image(make_thumbnail(raw, long_side=100)).size == (50, 100)


def test_thumbnail_applies_exif_orientation() -> None:
    thumbnail = open_image(make_thumbnail(SELFIE_WITH_GPS.read_bytes()))
    assert thumbnail.size == (240, 320)
    assert b"GPS" not in make_thumbnail(SELFIE_WITH_GPS.read_bytes())


def test_thumbnail_never_upscales() -> None:
    assert open_image(make_thumbnail(encode(gradient((100, 80)), "WEBP"))).size == (100, 80)


def test_thumbnail_of_transparent_png_is_flattened_on_white() -> None:
    raw = encode(Image.new("RGBA", (200, 200), (0, 0, 0, 0)), "PNG")
    thumbnail = open_image(make_thumbnail(raw))
    assert thumbnail.mode == "RGB"
    assert thumbnail.getpixel((100, 100)) == (255, 255, 255)


def test_thumbnail_rejects_bad_input() -> None:
    with pytest.raises(ImageRejected):
        make_thumbnail(b"not an image")
    with pytest.raises(ImageRejected):
        make_thumbnail(SELFIE.read_bytes()[:5000])
    with pytest.raises(ValueError):
        make_thumbnail(SELFIE.read_bytes(), long_side=0)


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_read_result_image(fmt: str, content_type: str) -> None:
    assert read_result_image(encode(gradient((1024, 768)), fmt)) == (content_type, 1024, 768)


def test_read_result_image_refuses_non_images_and_truncated_ones() -> None:
    with pytest.raises(ImageRejected) as caught:
        read_result_image(b'{"error": "model overloaded"}')
    assert http_status(caught.value) == 415
    with pytest.raises(ImageRejected) as caught:
        read_result_image(encode(gradient(), "GIF"))
    assert http_status(caught.value) == 415
    png = encode(gradient((600, 600)), "PNG")
    with pytest.raises(ImageRejected) as caught:
        read_result_image(png[: len(png) // 2])
    assert caught.value.code == "invalid_image"
    with pytest.raises(ImageRejected) as caught:
        read_result_image(bomb_png(50_000, 50_000))
    assert http_status(caught.value) == 413


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_a_result_is_checked_and_thumbnailed_from_one_decode(fmt: str, content_type: str
                                                             ) -> None:
    raw = encode(gradient((1024, 768)), fmt)
    checked = read_result_image_with_thumbnail(raw)
    assert (checked.content_type, checked.width, checked.height) == (content_type, 1024, 768)
    thumbnail = checked.thumbnail
    assert open_image(thumbnail.data).size == open_image(make_thumbnail(raw)).size == (320, 240)
    assert (thumbnail.width, thumbnail.height) == (320, 240)
    assert open_image(thumbnail.data).format == "JPEG"
    with pytest.raises(ImageRejected) as caught:
        read_result_image_with_thumbnail(raw[: len(raw) // 2])
    assert caught.value.code == "invalid_image"
    with pytest.raises(ImageRejected) as caught:
        read_result_image_with_thumbnail(b'{"error": "model overloaded"}')
    assert http_status(caught.value) == 415


def test_a_sideways_results_size_is_the_size_it_shows_at() -> None:
    # Stored 1024x768 with EXIF orientation 6 (turned a quarter): it shows 768x1024, and so
    # does its thumbnail.
    raw = encode(gradient((1024, 768)), "JPEG", exif=exif_with_gps(orientation=6))
    checked = read_result_image_with_thumbnail(raw)
    assert (checked.width, checked.height) == (768, 1024)
    assert (checked.thumbnail.width, checked.thumbnail.height) == (240, 320)
    assert open_image(checked.thumbnail.data).size == (240, 320)


@pytest.mark.parametrize("cut", [2, 100, 20_000])
def test_a_jpeg_result_cut_short_is_refused_though_its_thumbnail_is_decoded_scaled(cut: int
                                                                                  ) -> None:
    # The thumbnail comes from a JPEG decoded at half scale: the decoder must still read the
    # whole stream, so a result missing its last bytes is as invalid as with a full decode.
    raw = encode(gradient((1024, 1024)), "JPEG", quality=90)
    thumbnail = read_result_image_with_thumbnail(raw).thumbnail
    assert open_image(thumbnail.data).size == (thumbnail.width, thumbnail.height) == (320, 320)
    with pytest.raises(ImageRejected) as caught:
        read_result_image_with_thumbnail(raw[:-cut])
    assert caught.value.code == "invalid_image"


def test_data_url_round_trips() -> None:
    raw = SELFIE.read_bytes()
    url = data_url(raw, "image/jpeg")
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :], validate=True) == raw


def test_data_url_refuses_other_content_types() -> None:
    with pytest.raises(ValueError):
        data_url(b"<svg/>", "image/svg+xml")
    with pytest.raises(ValueError):
        data_url(b"x", "image/jpeg;charset=utf-8\r\nX-Injected: 1")


def test_the_uploads_preview_comes_from_the_same_clean_pixels() -> None:
    raw = encode(gradient((1200, 800), mode="RGBA"), "PNG")
    image, preview = sanitize_upload_with_preview(raw, preview_long_side=512)
    assert image == sanitize_upload(raw)  # the same re-encoded upload
    shown = open_image(preview.data)
    assert (shown.format, shown.size, shown.mode) == ("JPEG", (512, 341), "RGB")
    assert (preview.width, preview.height) == (512, 341)
    corner = shown.getpixel((2, 2))
    assert isinstance(corner, tuple) and corner[0] > 200  # the red corner survived, upright
    with pytest.raises(ValueError, match="positive"):
        sanitize_upload_with_preview(raw, preview_long_side=0)
