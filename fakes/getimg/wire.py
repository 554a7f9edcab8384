"""GetImg v2 wire rules the fake enforces: limits, request validation, the error body.

Sources: https://docs.getimg.ai/guides/errors (error object and codes),
https://docs.getimg.ai/api-reference/images/generate-an-image (prompt 1-40968 chars, formats),
SDK `types/image_generate_params.py` (data URLs only, PNG/JPEG/WebP, 10 MiB decoded, 25 MiB body).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Response, jsonify
from PIL import Image

MIB = 1024 * 1024
MAX_BODY_BYTES = 25 * MIB
MAX_IMAGE_BYTES = 10 * MIB
MAX_PROMPT_CHARS = 40968
MAX_REFERENCES = 10
LONG_SIDE = {"1K": 1024, "2K": 2048}
PRICES = {"1K": Decimal("0.03"), "2K": Decimal("0.05")}
ASPECT_RATIOS = ("1:1", "4:5", "5:4", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
FORMATS = {"jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"),
           "webp": ("WEBP", "image/webp")}
REQUEST_FIELDS = {"model", "prompt", "images", "aspect_ratio", "resolution", "output_format"}
DOC_URL = "https://docs.getimg.ai/guides/errors"


class ApiError(Exception):
    """An error answered in GetImg's error format."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 *, error_type: str = "invalid_request_error",
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.error_type, self.headers = error_type, dict(headers or {})

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.error_type,
                          "param": self.param, "code": self.code, "doc_url": DOC_URL}}
        response = jsonify(body)
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def output_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """3:4 at 1K -> (768, 1024): the long side is 1024 (1K) or 2048 (2K)."""
    a, b = (int(part) for part in aspect_ratio.split(":"))
    long_side = LONG_SIDE[resolution]
    if a >= b:
        return long_side, round(long_side * b / a)
    return round(long_side * a / b), long_side


def decode_data_url(url: object, index: int) -> bytes:
    param = f"images[{index}].url"
    if not isinstance(url, str) or not url:
        raise ApiError(400, "parameter_missing", f"Missing required parameter: {param}.", param)
    if url.startswith(("https://", "http://")):
        raise ApiError(400, "invalid_parameter", "This fake accepts only data URLs.", param)
    header, comma, payload = url.partition(",")
    if not url.startswith("data:") or not comma:
        raise ApiError(400, "invalid_parameter", "Bare base64 is not accepted; send a data URL "
                       "(data:image/png;base64,...) or an HTTPS URL.", param)
    if not re.fullmatch(r"data:image/(png|jpeg|jpg|webp);base64", header):
        raise ApiError(400, "invalid_parameter", "Inline images must be PNG, JPEG or WebP "
                       "base64 data URLs.", param)
    if len(payload) > math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 4:
        raise ApiError(400, "invalid_parameter", "Image exceeds the 10 MiB limit.", param)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_parameter", "Image data is not valid base64.", param) from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise ApiError(400, "invalid_parameter", "Image exceeds the 10 MiB limit.", param)
    if open_image(raw) is None:
        raise ApiError(400, "invalid_parameter", "Image could not be decoded as PNG, JPEG or "
                       "WebP.", param)
    return raw


# The same picture is sent again and again (every attempt of a job, every job from one upload):
# decoding it and rendering the answer is the fake's CPU, which a benchmark running the fake on
# the service's own cores would otherwise count against the service. The real GetImg's work
# happens elsewhere. Both are pure functions of their inputs, so the cache changes no answer.
@functools.lru_cache(maxsize=16)
def open_image(raw: bytes) -> Image.Image | None:
    """The decoded picture (read-only: callers derive new images from it), or None."""
    try:
        image = Image.open(io.BytesIO(raw))
        if image.format not in ("PNG", "JPEG", "WEBP"):
            raise ValueError(image.format)
        image.load()
    except Exception:  # Pillow raises many types for bad input; all mean the same here
        return None
    return image



def parse_request(body: object, models: list[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_parameter", "Request body must be a JSON object.")
    for name in body:
        if name not in REQUEST_FIELDS:
            raise ApiError(400, "invalid_parameter", f"Unknown parameter: {name}.", str(name))
    for name in ("model", "prompt"):
        if body.get(name) in (None, ""):
            raise ApiError(400, "parameter_missing", f"Missing required parameter: {name}.", name)
    model, prompt = body["model"], body["prompt"]
    if model not in models:
        raise ApiError(400, "invalid_parameter", f"Unknown model '{model}'.", "model")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, "invalid_parameter", "prompt must be 1-40968 characters.", "prompt")
    choices = {"aspect_ratio": ASPECT_RATIOS, "resolution": tuple(LONG_SIDE),
               "output_format": tuple(FORMATS)}
    params: dict[str, Any] = {"model": model, "prompt": prompt}
    for name, allowed in choices.items():
        value = body.get(name, allowed[0] if name != "output_format" else "jpeg")
        if value not in allowed:
            raise ApiError(400, "invalid_parameter", f"Unsupported {name} '{value}' for model "
                           f"'{model}'. Supported: {', '.join(allowed)}.", name)
        params[name] = value
    images = body.get("images", [])
    if not isinstance(images, list) or len(images) > MAX_REFERENCES:
        raise ApiError(400, "invalid_parameter", "images must be a list of at most "
                       f"{MAX_REFERENCES} objects.", "images")
    decoded = []
    for index, item in enumerate(images):
        if not isinstance(item, dict) or item.get("role", "reference_image") != "reference_image":
            raise ApiError(400, "invalid_parameter", "Each image must be an object with a url "
                           "(and optionally role: reference_image).", f"images[{index}]")
        decoded.append(decode_data_url(item.get("url"), index))
    params["source"] = decoded[0] if decoded else None
    return params
