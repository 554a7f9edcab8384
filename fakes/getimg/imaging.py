"""The fake's output picture: real, derived from the input, different per prompt and ratio."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from fakes.getimg.wire import FORMATS, open_image, output_size


def render(params: dict[str, Any]) -> tuple[bytes, int, int, str]:
    """A real image: the input fitted to the aspect ratio, toned by a hash of the prompt."""
    return _render(params["source"], params["prompt"], params["aspect_ratio"],
                   params["resolution"], params["output_format"])


# A pure function of the request: cached for the reason `wire.open_image` is (about 80 ms of
# CPU a picture that, from the real GetImg, would not be spent on the service's machine).
@functools.lru_cache(maxsize=64)
def _render(raw_source: bytes | None, prompt: str, aspect_ratio: str, resolution: str,
            output_format: str) -> tuple[bytes, int, int, str]:
    width, height = output_size(aspect_ratio, resolution)
    digest = hashlib.sha256(prompt.encode()).digest()

    def colour(byte: int, saturation: float, value: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(byte / 255, saturation, value)
        return round(r * 255), round(g * 255), round(b * 255)

    light, dark, accent = colour(digest[0], 0.45, 0.95), colour(digest[1], 0.7, 0.2), \
        colour(digest[2], 0.85, 0.75)
    source = open_image(raw_source) if raw_source is not None else None
    if source is None:
        gradient = Image.linear_gradient("L").rotate(digest[3] * 360 / 256).resize((width, height))
        base = ImageOps.colorize(gradient, black=dark, white=light)
    else:
        upright = ImageOps.exif_transpose(source).convert("RGB")
        base = ImageOps.fit(upright, (width, height), Image.Resampling.LANCZOS)
    toned = ImageOps.colorize(ImageOps.grayscale(base), black=dark, white=light)
    result = Image.blend(base, toned, 0.35 + digest[4] / 255 * 0.3)
    strength = 0.6 + digest[5] / 255 * 0.4
    mask = Image.radial_gradient("L").resize((width, height)).point(
        lambda v: round(max(0, v - 100) * 255 / 155 * strength))
    result = Image.composite(Image.new("RGB", (width, height), dark), result, mask)
    ImageDraw.Draw(result).rectangle((0, 0, width - 1, height - 1), outline=accent,
                                     width=max(4, min(width, height) // 40))
    pil_format, mime_type = FORMATS[output_format]
    buffer = io.BytesIO()
    result.save(buffer, pil_format, **({"quality": 90} if pil_format != "PNG" else {}))
    return buffer.getvalue(), width, height, mime_type
