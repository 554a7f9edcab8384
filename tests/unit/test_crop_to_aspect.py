"""The before image of a swipe-to-compare (§13): the selfie's centre cut to the headshot's
aspect ratio, its longer side at most 512, never upscaled, without metadata."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from media.images import crop_to_aspect

RATIOS = ["1:1", "4:5", "2:3", "3:4", "9:16"]


def _jpeg(image: Image.Image, **params: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=95, **params)
    return buffer.getvalue()


def _marked(size: tuple[int, int]) -> Image.Image:
    """Grey with a red block at the centre and blue bands at the four edges: a centre crop
    keeps the red block in its middle and cuts the bands on the sides it trims."""
    width, height = size
    image = Image.new("RGB", size, (128, 128, 128))
    image.paste((255, 0, 0), (width // 2 - 20, height // 2 - 20, width // 2 + 20, height // 2 + 20))
    image.paste((0, 0, 255), (0, 0, width, 8))
    image.paste((0, 0, 255), (0, height - 8, width, height))
    image.paste((0, 0, 255), (0, 0, 8, height))
    image.paste((0, 0, 255), (width - 8, 0, width, height))
    return image


def _ratio(ratio: str) -> float:
    width, height = (int(part) for part in ratio.split(":"))
    return width / height


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("size", [(512, 384), (384, 512)], ids=["landscape", "portrait"])
def test_the_crop_has_the_ratio_and_keeps_the_centre(ratio: str, size: tuple[int, int]) -> None:
    before = crop_to_aspect(_jpeg(_marked(size)), ratio)
    image = Image.open(BytesIO(before.data))
    assert image.format == "JPEG"
    assert image.size == (before.width, before.height)
    assert abs(before.width / before.height - _ratio(ratio)) < 0.01
    # The largest box of that shape: one side is the preview's whole side.
    assert before.width == size[0] or before.height == size[1]
    centre = image.convert("RGB").getpixel((before.width // 2, before.height // 2))
    assert isinstance(centre, tuple)
    red, green, blue = centre[:3]
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("ratio", RATIOS)
def test_a_large_image_is_shrunk_to_512_and_a_small_one_never_grown(ratio: str) -> None:
    large = crop_to_aspect(_jpeg(_marked((2000, 1500))), ratio)
    assert max(large.width, large.height) == 512
    assert abs(large.width / large.height - _ratio(ratio)) < 0.01
    small = crop_to_aspect(_jpeg(_marked((200, 300))), ratio)
    assert small.width <= 200 and small.height <= 300
    assert small.width == 200 or small.height == 300


def test_the_crop_is_reencoded_without_metadata() -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    raw = _jpeg(_marked((512, 384)), exif=exif.tobytes(), comment=b"secret comment")
    data = crop_to_aspect(raw, "4:5").data
    image = Image.open(BytesIO(data))
    assert not image.getexif()
    assert b"secret" not in data
