"""The image formats the service accepts and produces, each fact once.

It stores and serves JPEG, PNG and WebP. Uploads may also be HEIC (the iPhone camera's format)
or AVIF: those are decoded and stored as JPEG, since browsers, GetImg and the exports do not all
read them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal, get_args

ContentType = Literal["image/jpeg", "image/png", "image/webp"]
CONTENT_TYPES: tuple[str, ...] = get_args(ContentType)
SUPPORTED_TYPES_TEXT = "JPEG, PNG or WebP"
UPLOAD_TYPES_TEXT = "JPEG, PNG, WebP, HEIC or AVIF"


@dataclass(frozen=True)
class ImageFormat:
    content_type: str
    extension: str  # without the dot, as in storage keys
    pillow_names: tuple[str, ...]  # what Pillow may report after opening this container

    @property
    def pillow_name(self) -> str:
        return self.pillow_names[0]


JPEG = ImageFormat("image/jpeg", "jpg", ("JPEG", "MPO"))  # MPO: phone JPEGs with a depth map
PNG = ImageFormat("image/png", "png", ("PNG",))
WEBP = ImageFormat("image/webp", "webp", ("WEBP",))
FORMATS = (JPEG, PNG, WEBP)
BY_CONTENT_TYPE = {f.content_type: f for f in FORMATS}
BY_EXTENSION = {f.extension: f for f in FORMATS}
EXTENSIONS = tuple(BY_EXTENSION)
# Accepted as uploads only (sniffed by media/heif.py), and stored as JPEG. Pillow's own AVIF
# plugin reads AVIF; pillow-heif's plugin, registered by media/images.py, reads HEIC.
HEIC = ImageFormat("image/heic", "heic", ("HEIF",))
AVIF = ImageFormat("image/avif", "avif", ("AVIF",))
UPLOAD_FORMATS = (*FORMATS, HEIC, AVIF)


def sniff(data: bytes) -> ImageFormat | None:
    """The format of `data` from its leading (magic) bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def data_url(data: bytes, content_type: str) -> str:
    """`data:<type>;base64,...` for sending an image inline (to GetImg)."""
    if content_type not in BY_CONTENT_TYPE:
        raise ValueError(f"unsupported content type for a data URL: {content_type!r}")
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
