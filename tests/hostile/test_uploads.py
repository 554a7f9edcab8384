"""`POST /api/uploads` (API guide §5) with hostile files and hostile multipart bodies.

A refused upload is the §3 error with 400/413/415 and leaves no row and no file. A valid image
that carries something else (a trailing ZIP, a script in a comment, a traversal filename) is
accepted only as a clean re-encoded copy under a key the service chose.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from media import get_storage
from tests.support.assets import SELFIE
from tests.support.camera_files import avif, declaring, heic
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, media_files, send, tried
from tests.support.live import LiveServer
from tests.support.media import fetch_media
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
MiB = 1024 * 1024
SELFIE_BYTES = SELFIE.read_bytes()


# ---- building hostile files by hand (never allocating the pixels they declare) ---------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_declaring(width: int, height: int, *, color_type: int = 2, bit_depth: int = 8,
                  pixel_bytes: bytes = b"\x00" * 64) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(pixel_bytes)) + _png_chunk(b"IEND", b""))


def encoded(fmt: str, size: tuple[int, int] = (96, 96), **params: Any) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    raw = bytearray(encoded("JPEG"))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(raw)


def webp_vp8x_declaring(width: int, height: int) -> bytes:
    """An extended WebP whose canvas claims width x height, around a tiny real frame."""
    small = encoded("WEBP", lossless=True)
    frame = small[12:]  # the VP8L chunk of a real 96x96 picture
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" \
        + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8l_declaring(width: int, height: int) -> bytes:
    """A lossless WebP whose bitstream header claims width x height (14 bits each)."""
    raw = bytearray(encoded("WEBP", lossless=True))
    offset = raw.index(b"VP8L") + 8
    assert raw[offset] == 0x2F
    bits = int.from_bytes(raw[offset + 1 : offset + 5], "little")
    bits = (bits & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
    raw[offset + 1 : offset + 5] = bits.to_bytes(4, "little")
    return bytes(raw)


def jpeg_with_comment(comment: bytes) -> bytes:
    raw = encoded("JPEG")
    return raw[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + raw[2:]


def tiny_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.php", "<?php system($_GET['c']); ?>")
    return buffer.getvalue()


SVG_SCRIPT = (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'>"
              b"<script>alert(document.domain)</script></svg>")
HTML = b"<!doctype html><html><script>fetch('/api/me')</script></html>"
PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

# name -> (file bytes, expected status, expected code or None)
REFUSED_FILES: dict[str, tuple[Callable[[], bytes], int, str | None]] = {
    "PNG declaring 100000x100000": (lambda: png_declaring(100_000, 100_000), 413,
                                    "image_too_large"),
    "PNG declaring 2^31-1 square": (lambda: png_declaring(2**31 - 1, 2**31 - 1), 413, None),
    "PNG declaring 7000x7000 (over 40 Mpx)": (lambda: png_declaring(7000, 7000), 413,
                                              "image_too_large"),
    "PNG declaring 1x50000000": (lambda: png_declaring(1, 50_000_000), 413, "image_too_large"),
    "PNG 16-bit RGBA 20000x20000": (lambda: png_declaring(20_000, 20_000, color_type=6,
                                                          bit_depth=16), 413, None),
    "PNG declaring 0x0": (lambda: png_declaring(0, 0), 400, None),
    "JPEG declaring 65500x65500": (lambda: jpeg_declaring(65_500, 65_500), 413,
                                   "image_too_large"),
    "JPEG declaring 65500x1": (lambda: jpeg_declaring(65_500, 1), 400, "invalid_image"),
    "WebP VP8X canvas 16384x16384": (lambda: webp_vp8x_declaring(16_384, 16_384), 413, None),
    "WebP VP8L 16384x16384": (lambda: webp_vp8l_declaring(16_384, 16_384), 413, None),
    # Within Pillow's own bomb limit, past ours: refused from the header, before Pillow parses
    # the rest (garbage here, which it would call a corrupt file: a 400).
    "WebP VP8X canvas 6400x6400, then garbage": (
        lambda: webp_vp8x_declaring(6400, 6400)[:30] + b"\xff" * 70_000, 413, "image_too_large"),
    "WebP VP8L 6400x6400, then garbage": (
        lambda: webp_vp8l_declaring(6400, 6400)[:25] + b"\xff" * 70_000, 413, "image_too_large"),
    "truncated JPEG": (lambda: SELFIE_BYTES[: len(SELFIE_BYTES) // 2], 400, "invalid_image"),
    "JPEG cut after the header": (lambda: SELFIE_BYTES[:700], 400, "invalid_image"),
    "truncated PNG": (lambda: encoded("PNG")[:-40], 400, "invalid_image"),
    "truncated WebP": (lambda: encoded("WEBP")[:60], 400, "invalid_image"),
    "JPEG magic then HTML": (lambda: b"\xff\xd8\xff" + HTML, 400, "invalid_image"),
    "PNG magic then garbage": (lambda: b"\x89PNG\r\n\x1a\n" + b"\xff" * 200, 400,
                               "invalid_image"),
    "GIF/JPEG polyglot": (lambda: b"GIF89a\x01\x00\x01\x00" + SELFIE_BYTES, 415,
                          "unsupported_media_type"),
    "real GIF": (lambda: encoded("GIF"), 415, "unsupported_media_type"),
    "PDF/JPEG polyglot": (lambda: PDF + SELFIE_BYTES, 415, "unsupported_media_type"),
    "HTML": (lambda: HTML, 415, "unsupported_media_type"),
    "HTML after a BOM": (lambda: b"\xef\xbb\xbf" + HTML, 415, "unsupported_media_type"),
    "SVG with a script": (lambda: SVG_SCRIPT, 415, "unsupported_media_type"),
    "ZIP": (tiny_zip, 415, "unsupported_media_type"),
    "BMP": (lambda: encoded("BMP"), 415, "unsupported_media_type"),
    "TIFF": (lambda: encoded("TIFF"), 415, "unsupported_media_type"),
    "one byte": (lambda: b"\xff", 415, "unsupported_media_type"),
    "empty file": (lambda: b"", 400, None),
    # HEIC and AVIF (media/heif.py reads their boxes before libheif/libavif see them).
    "HEIC declaring 50000x50000": (lambda: declaring(heic(), 50_000, 50_000), 413,
                                   "image_too_large"),
    "AVIF declaring 50000x50000": (lambda: declaring(avif(), 50_000, 50_000), 413,
                                   "image_too_large"),
    "HEIC declaring 7000x7000 (over 40 Mpx)": (lambda: declaring(heic(), 7000, 7000), 413,
                                               "image_too_large"),
    "truncated HEIC": (lambda: heic()[:-30], 400, "invalid_image"),
    "HEIC cut in half": (lambda: heic()[: len(heic()) // 2], 400, "invalid_image"),
    "AVIF with garbage": (lambda: avif()[:40] + b"\xff" * 4000, 400, "invalid_image"),
    "truncated AVIF": (lambda: avif()[:-30], 400, "invalid_image"),
    "HEIC brand then a JPEG": (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
                               + SELFIE_BYTES, 400, "invalid_image"),
    "HEIC/HTML polyglot": (lambda: heic() + HTML, 400, "invalid_image"),
    "HEIC/ZIP polyglot": (lambda: heic() + tiny_zip(), 400, "invalid_image"),
    "HEIF naming no codec": (lambda: b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00miafMA1A"
                             + b"\x00" * 64, 415, "unsupported_media_type"),
    "MP4 video": (lambda: b"\x00\x00\x00\x14ftypisom\x00\x00\x00\x00" + b"\x00" * 64, 415,
                  "unsupported_media_type"),
    "just over 10 MiB": (lambda: SELFIE_BYTES + b"\x00" * (10 * MiB), 413, None),
}


def _upload(client: Any, user_id: int, files: Any, *, theme: str = "uploads") -> Any:
    return send(client, "post", "/api/uploads", theme=theme, headers=auth(user_id),
                data=files, content_type="multipart/form-data")


@pytest.mark.parametrize("kind", list(REFUSED_FILES))
def test_hostile_files_are_refused_and_leave_nothing(client: Any, kind: str) -> None:
    make, status, code = REFUSED_FILES[kind]
    user_id = new_user_id()
    before = footprint(user_id)
    response = _upload(client, user_id, {"image": (io.BytesIO(make()), "selfie.jpg",
                                                   "image/jpeg")})
    assert_error(response, status, code, field="image" if status == 400 else None, context=kind)
    assert_unchanged(before, footprint(user_id), kind)


# ---- valid images carrying something else: accepted only as a clean copy ---------------------

KEY_PATTERN = re.compile(r"originals/(\d+)/[0-9a-f]{32}\.(jpg|png|webp)")
PREVIEW_PATTERN = re.compile(r"previews/(\d+)/[0-9a-f]{32}\.jpg")
# name -> (file bytes, filename, part content type, what must not survive, stored type)
CARRIERS: dict[str, tuple[Callable[[], bytes], str, str, bytes, str]] = {
    "PNG with a trailing ZIP": (lambda: encoded("PNG") + tiny_zip(), "x.png", "image/png",
                                b"PK\x03\x04", "image/png"),
    "JPEG with a trailing PDF": (lambda: encoded("JPEG") + PDF, "x.jpg", "image/jpeg", b"%PDF",
                                 "image/jpeg"),
    "JPEG with a trailing GIF": (lambda: encoded("JPEG") + encoded("GIF"), "x.jpg",
                                 "image/jpeg", b"GIF89a", "image/jpeg"),
    "JPEG with a PHP comment": (lambda: jpeg_with_comment(b"<?php system($_GET['c']); ?>"),
                                "x.jpg", "image/jpeg", b"<?php", "image/jpeg"),
    "JPEG with an HTML comment": (lambda: jpeg_with_comment(HTML), "x.jpg", "image/jpeg",
                                  b"<script", "image/jpeg"),
    "JPEG sent as text/html": (lambda: encoded("JPEG") + HTML, "x.html", "text/html",
                               b"<script", "image/jpeg"),
    "PNG named .jpg": (lambda: encoded("PNG"), "selfie.jpg", "image/jpeg", b"\xff\xd8\xff",
                       "image/png"),
    "JPEG named .svg": (lambda: encoded("JPEG"), "x.svg", "image/svg+xml", b"<svg",
                        "image/jpeg"),
    "path-traversal filename": (lambda: encoded("JPEG"), "../../etc/passwd.jpg", "image/jpeg",
                                b"passwd", "image/jpeg"),
    "absolute filename": (lambda: encoded("JPEG"), "/etc/passwd.jpg", "image/jpeg", b"passwd",
                          "image/jpeg"),
    "backslash traversal filename": (lambda: encoded("JPEG"), "..\\..\\..\\boot.ini.jpg",
                                     "image/jpeg", b"boot.ini", "image/jpeg"),
    "encoded traversal filename": (lambda: encoded("JPEG"), "%2e%2e%2f%2e%2e%2fx.jpg",
                                   "image/jpeg", b"%2e", "image/jpeg"),
    "NUL in the filename": (lambda: encoded("JPEG"), "x.php\x00.jpg", "image/jpeg", b".php",
                            "image/jpeg"),
    "huge filename (20 KB)": (lambda: encoded("JPEG"), "a" * 20_000 + ".jpg", "image/jpeg",
                              b"aaaaaaaa", "image/jpeg"),
    "unicode filename": (lambda: encoded("JPEG"), "自撮り😀\u202egpj.exe", "image/jpeg",
                         "自撮り".encode(), "image/jpeg"),
    "dot-file filename": (lambda: encoded("PNG"), ".htaccess", "image/png", b"htaccess",
                          "image/png"),
    "empty filename": (lambda: encoded("JPEG"), "", "image/jpeg", b"\x00none", "image/jpeg"),
    # The part's type never decides: a HEIC labelled a JPEG is read as HEIC, stored as JPEG.
    "HEIC sent as image/jpeg": (lambda: heic(), "IMG_0001.jpg", "image/jpeg", b"iPhone",
                                "image/jpeg"),
    "AVIF sent as image/png": (lambda: avif(), "x.png", "image/png", b"iPhone", "image/jpeg"),
    "JPEG sent as image/heic": (lambda: encoded("JPEG"), "IMG_0001.HEIC", "image/heic",
                                b"ftyp", "image/jpeg"),
}


@pytest.mark.parametrize("kind", list(CARRIERS))
def test_valid_images_carrying_more_are_stored_clean_under_our_own_key(client: Any,
                                                                       kind: str) -> None:
    make, filename, part_type, payload, stored_type = CARRIERS[kind]
    user_id = new_user_id()
    files_before = media_files()
    response = _upload(client, user_id, {"image": (io.BytesIO(make()), filename, part_type)})
    if filename == "" and response.status_code == 400:  # a part without a filename: no file
        assert_error(response, 400, field="image")
        assert media_files() == files_before
        return
    assert response.status_code == 201, (kind, response.data[:300])
    body = response.get_json()
    assert body["contentType"] == stored_type
    key = urlsplit(body["imageUrl"]).path.removeprefix("/media/")
    assert KEY_PATTERN.fullmatch(key) and key.split("/")[1] == str(user_id), key
    new_files = media_files() - files_before
    previews = {name for name in new_files if PREVIEW_PATTERN.fullmatch(name)}
    assert new_files - previews == {key}, "exactly one original, at the key we chose"
    assert len(previews) == 1 and next(iter(previews)).split("/")[1] == str(user_id), previews
    assert not files_before - media_files()
    preview = get_storage().get(next(iter(previews)))
    shown = Image.open(io.BytesIO(preview))
    assert shown.format == "JPEG" and max(shown.size) <= 512
    assert not shown.getexif() and "icc_profile" not in shown.info
    if payload != b"\xff\xd8\xff":  # a JPEG's own start marker is no smuggled payload
        assert payload not in preview, f"{kind}: the payload survived in the before preview"
    tried("uploads")
    served = fetch_media(client, body["imageUrl"])
    assert served.status_code == 200 and served.mimetype == stored_type
    # Ours, on the image or on the redirect to the store (which forces the content type).
    ours = getattr(served, "redirected_by", None) or served
    assert ours.headers["X-Content-Type-Options"] == "nosniff"
    assert payload not in served.data, f"{kind}: the payload survived the re-encode"
    assert Image.open(io.BytesIO(served.data)).format == stored_type.split("/")[1].upper()


# ---- hostile multipart bodies ----------------------------------------------------------------


def _jpeg_part() -> tuple[io.BytesIO, str]:
    return io.BytesIO(encoded("JPEG")), "me.jpg"


MULTIPART: dict[str, tuple[Callable[[], dict[str, Any]], int, str | None]] = {
    "field named file": (lambda: {"data": {"file": _jpeg_part()}}, 400, "image"),
    "field named Image": (lambda: {"data": {"Image": _jpeg_part()}}, 400, "image"),
    "field named image[]": (lambda: {"data": {"image[]": _jpeg_part()}}, 400, "image"),
    "image as a text field": (lambda: {"data": {"image": "not a file"}}, 400, "image"),
    "two files in image": (lambda: {"data": {"image": [_jpeg_part(), _jpeg_part()]}}, 400,
                           "image"),
    "a valid file then a bomb": (lambda: {"data": {"image": [
        _jpeg_part(), (io.BytesIO(png_declaring(100_000, 100_000)), "b.png")]}}, 400, "image"),
    "no body": (lambda: {}, 400, "image"),
    "JSON body": (lambda: {"json": {"image": "data:image/jpeg;base64,/9j/"}}, 400, "image"),
    "raw JPEG body": (lambda: {"data": SELFIE_BYTES, "content_type": "image/jpeg"}, 400,
                      "image"),
    "urlencoded body": (lambda: {"data": "image=%FF%D8%FF",
                                 "content_type": "application/x-www-form-urlencoded"}, 400,
                        "image"),
    "multipart without a boundary": (lambda: {"data": b"--x\r\n\r\n",
                                              "content_type": "multipart/form-data"}, 400, None),
    "multipart with a garbage body": (lambda: {
        "data": b"\x00\xff" * 500, "content_type": "multipart/form-data; boundary=zzz"},
        400, None),
    "multipart never closed": (lambda: {
        "data": b"--zzz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\""
                b"\r\nContent-Type: image/jpeg\r\n\r\n" + SELFIE_BYTES[:5000],
        "content_type": "multipart/form-data; boundary=zzz"}, 400, None),
    "boundary of 10 KB": (lambda: {
        "data": b"--" + b"b" * 10_000 + b"\r\n",
        "content_type": "multipart/form-data; boundary=" + "b" * 10_000}, 400, None),
    "5000 tiny parts": (lambda: {"data": {f"f{i}": "x" for i in range(5000)}}, 413, None),
}


@pytest.mark.parametrize("kind", list(MULTIPART))
def test_hostile_multipart_bodies_are_refused_and_leave_nothing(client: Any, kind: str) -> None:
    make, status, field = MULTIPART[kind]
    user_id = new_user_id()
    before = footprint(user_id)
    kwargs = make()
    kwargs.setdefault("content_type", "multipart/form-data" if "data" in kwargs else None)
    if kwargs["content_type"] is None:
        del kwargs["content_type"]
    response = send(client, "post", "/api/uploads", theme="uploads", headers=auth(user_id),
                    **kwargs)
    assert_error(response, status, field=field, context=kind)
    assert_unchanged(before, footprint(user_id), kind)


# ---- over the real server: sizes only gunicorn sees as they are ------------------------------


def _over_limit_chunks(total: int, chunk: int = 256 * 1024) -> Any:
    head = (b"--zzz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + SELFIE_BYTES)
    yield head
    sent = len(head)
    while sent < total:
        yield b"\x00" * chunk
        sent += chunk
    yield b"\r\n--zzz--\r\n"


@pytest.mark.parametrize("how", ["content-length", "chunked"])
def test_bodies_over_the_limit_are_413_over_the_real_server(web: str, how: str) -> None:
    user_id = new_user_id()
    before = footprint(user_id)
    tried("uploads")
    server = LiveServer(web)
    chunks = _over_limit_chunks(11 * MiB)
    # A bytes body goes with a Content-Length; a generator is sent chunked.
    body = b"".join(chunks) if how == "content-length" else chunks
    response = server.call("POST", "/api/uploads", user_id=user_id, data=body,
                           headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert_error(response, 413, context=how)
    assert_unchanged(before, footprint(user_id), how)
    assert server.call("GET", "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("kind", ["PNG declaring 100000x100000", "JPEG declaring 65500x65500",
                                  "WebP VP8X canvas 16384x16384",
                                  "WebP VP8X canvas 6400x6400, then garbage", "truncated JPEG",
                                  "SVG with a script", "empty file"])
def test_hostile_files_over_the_real_server(web: str, kind: str) -> None:
    make, status, code = REFUSED_FILES[kind]
    user_id = new_user_id()
    before = footprint(user_id)
    tried("uploads")
    response = LiveServer(web).call("POST", "/api/uploads", user_id=user_id,
                                    files={"image": ("selfie.jpg", make(), "image/jpeg")})
    assert_error(response, status, code, field="image" if status == 400 else None, context=kind)
    assert_unchanged(before, footprint(user_id), kind)
