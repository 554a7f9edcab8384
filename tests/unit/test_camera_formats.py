"""HEIC and AVIF uploads (§5): sniffed by content, size-checked from the container's boxes
before decoding, stored as upright JPEG without metadata."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from api.errors import http_status
from media.formats import AVIF, HEIC
from media.heif import brand_format, largest_declared_size
from media.images import (
    ImageRejected,
    read_result_image,
    sanitize_upload,
    sanitize_upload_with_preview,
)
from tests.support.camera_files import (
    CAMERA_MODEL,
    avif,
    declaring,
    heic,
    marked_picture,
)

ENCODERS = {"heic": heic, "avif": avif}


def decoded(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def rejected(raw: bytes) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        sanitize_upload(raw)
    return caught.value


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def is_red(image: Image.Image, xy: tuple[int, int]) -> bool:
    red, green, blue = rgb_at(image, xy)
    return red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_an_iphone_like_photo_is_stored_as_an_upright_jpeg_without_exif_or_gps(kind: str
                                                                               ) -> None:
    # Orientation 6: the sensor's landscape pixels are to be turned 90° clockwise, so the red
    # top-left corner of the stored pixels ends up top-right in the portrait photo.
    raw = ENCODERS[kind](marked_picture((240, 160)), orientation=6)
    assert b"GPS" in raw or CAMERA_MODEL.encode() in raw  # the source does carry them

    clean = sanitize_upload(raw)

    assert (clean.content_type, clean.extension) == ("image/jpeg", "jpg")
    image = decoded(clean.data)
    assert image.format == "JPEG"
    assert (clean.width, clean.height) == image.size == (160, 240)
    assert is_red(image, (image.width - 5, 5))
    assert not is_red(image, (5, 5))
    assert not image.getexif()
    assert CAMERA_MODEL.encode() not in clean.data
    assert b"Exif" not in clean.data and b"GPS" not in clean.data


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_an_upright_photo_keeps_its_pixels_and_gets_a_preview(kind: str) -> None:
    raw = ENCODERS[kind](marked_picture((400, 300)))
    clean, preview = sanitize_upload_with_preview(raw, preview_long_side=200)
    image = decoded(clean.data)
    assert image.size == (400, 300)
    assert is_red(image, (5, 5)) and not is_red(image, (395, 5))
    assert decoded(preview.data).size == (200, 150) == (preview.width, preview.height)


def test_a_transparent_avif_is_flattened_on_white() -> None:
    picture = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    picture.paste((0, 0, 255, 255), (0, 0, 64, 128))
    image = decoded(sanitize_upload(avif(picture)).data)
    assert image.mode == "RGB"
    assert min(rgb_at(image, (100, 64))) > 240  # was transparent: white
    assert rgb_at(image, (20, 64))[2] > 200  # still blue


def test_brands_decide_the_format() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body

    assert brand_format(ftyp(b"heic", b"mif1", b"heic")) is HEIC
    assert brand_format(ftyp(b"heix", b"mif1")) is HEIC
    assert brand_format(ftyp(b"mif1", b"miaf", b"heic")) is HEIC
    assert brand_format(ftyp(b"avif", b"mif1", b"miaf")) is AVIF
    assert brand_format(ftyp(b"mif1", b"avif")) is AVIF
    assert brand_format(ftyp(b"avis", b"msf1")) is AVIF
    assert brand_format(ftyp(b"mif1", b"miaf")) is None  # no codec named
    assert brand_format(ftyp(b"isom", b"mp41", b"avc1")) is None  # an MP4 video
    assert brand_format(ftyp(b"qt  ")) is None  # a QuickTime .mov (Live Photo's video)
    assert brand_format(b"\x00\x00\x01\x00ftypheic") is None  # ftyp larger than the file
    assert brand_format(heic()) is HEIC and brand_format(avif()) is AVIF


@pytest.mark.parametrize("raw", [
    pytest.param(b"\x00\x00\x00\x14ftypisom\x00\x00\x00\x00" + b"\x00" * 64, id="mp4"),
    pytest.param(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00" + b"\x00" * 64, id="mov"),
    pytest.param(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00miafMA1A", id="heif-no-codec"),
])
def test_other_iso_media_files_are_415(raw: bytes) -> None:
    error = rejected(raw)
    assert (error.code, http_status(error)) == ("unsupported_media_type", 415)
    assert "HEIC or AVIF" in str(error)


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_the_declared_size_is_read_from_the_boxes(kind: str) -> None:
    raw = ENCODERS[kind](marked_picture((240, 160)))
    assert largest_declared_size(raw) == (240, 160)
    assert largest_declared_size(declaring(raw, 50_000, 50_000)) == (50_000, 50_000)
    assert largest_declared_size(raw[:40]) is None


@pytest.mark.parametrize("kind", list(ENCODERS))
@pytest.mark.parametrize(("width", "height"), [(50_000, 50_000), (7000, 7000), (1, 50_000_000)])
def test_a_bomb_is_refused_from_its_declared_size(kind: str, width: int, height: int) -> None:
    error = rejected(declaring(ENCODERS[kind](), width, height))
    assert (error.code, http_status(error)) == ("image_too_large", 413)
    assert f"{width}x{height}" in str(error)


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_truncated_and_garbage_files_are_invalid(kind: str) -> None:
    raw = ENCODERS[kind]()
    # raw[:-30] and raw[:-1]: libde265 would conceal the missing end of the picture; the
    # file's last box overrunning its end is what refuses them.
    for bad in (raw[: len(raw) // 2], raw[:200], raw[:40] + b"\xff" * 4000, raw[:-30],
                raw[:-1]):
        error = rejected(bad)
        assert (error.code, http_status(error)) == ("invalid_image", 400), len(bad)


def test_a_heic_brand_in_front_of_a_jpeg_is_invalid() -> None:
    jpeg = BytesIO()
    marked_picture().save(jpeg, "JPEG")
    polyglot = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + jpeg.getvalue()
    error = rejected(polyglot)
    assert (error.code, http_status(error)) == ("invalid_image", 400)


def test_generator_results_stay_jpeg_png_or_webp() -> None:
    with pytest.raises(ImageRejected) as caught:
        read_result_image(heic())
    assert http_status(caught.value) == 415
    with pytest.raises(ImageRejected) as caught:
        read_result_image(avif())
    assert http_status(caught.value) == 415


@pytest.mark.parametrize("payload", [b"<!doctype html><script>alert(1)</script>",
                                     b"PK\x03\x04" + b"\x00" * 60])
@pytest.mark.parametrize("kind", list(ENCODERS))
def test_a_heif_with_a_payload_after_its_boxes_is_invalid(kind: str, payload: bytes) -> None:
    error = rejected(ENCODERS[kind]() + payload)
    assert (error.code, http_status(error)) == ("invalid_image", 400)
