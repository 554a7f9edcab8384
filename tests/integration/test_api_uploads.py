"""`POST /api/uploads`: checked by content, cleaned of metadata, served only by signed URL."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from models.uploads import Upload
from services.unit_of_work import unit_of_work
from tests.support.api_calls import upload
from tests.support.assets import SELFIE, SELFIE_WITH_GPS
from tests.support.camera_files import CAMERA_MODEL, avif, heic, marked_picture
from tests.support.errors import assert_error
from tests.support.media import fetch_media
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")


def _uploads_of(user_id: int) -> int:
    with unit_of_work() as db_session:
        return int(db_session.scalar(
            select(func.count()).select_from(Upload).where(Upload.user_id == user_id)) or 0)


def _fetch(client: Any, url: str) -> Any:
    return fetch_media(client, url)


def test_upload_returns_a_signed_expiring_url_of_a_clean_upright_copy(client: Any) -> None:
    user_id = new_user_id()
    response = upload(client, user_id, SELFIE_WITH_GPS.read_bytes(), filename="x.txt")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["imageUrl"].startswith("http://127.0.0.1:")
    assert "sig=" in body["imageUrl"] and "exp=" in body["imageUrl"]
    assert body["expiresAt"].endswith("+00:00")

    served = _fetch(client, body["imageUrl"])
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(served.data))
    original = Image.open(SELFIE_WITH_GPS)
    assert original.getexif().get(0x0112) in (6, 8)  # the fixture is stored sideways
    assert image.size == (original.height, original.width)  # orientation applied
    assert not image.getexif()  # EXIF (and the GPS block in it) is gone
    assert b"GPS" not in served.data and b"Exif" not in served.data
    assert _uploads_of(user_id) == 1


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_an_iphone_photo_in_heic_or_avif_is_served_as_an_upright_jpeg(client: Any,
                                                                      kind: str) -> None:
    raw = (heic if kind == "heic" else avif)(marked_picture((240, 160)), orientation=6)
    user_id = new_user_id()
    # Labelled as the iPhone labels it; the label is not what decides.
    response = client.post(
        "/api/uploads", headers=auth(user_id), content_type="multipart/form-data",
        data={"image": (io.BytesIO(raw), f"IMG_0001.{kind.upper()}", f"image/{kind}")})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["contentType"] == "image/jpeg"
    served = _fetch(client, body["imageUrl"])
    assert served.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(served.data))
    assert image.format == "JPEG" and image.size == (160, 240)  # turned upright
    red, green, _ = image.getpixel((image.width - 5, 5))  # type: ignore[misc]
    assert red > 200 and green < 60  # the red corner is top-right now
    assert not image.getexif() and CAMERA_MODEL.encode() not in served.data
    assert _uploads_of(user_id) == 1


def test_the_media_url_is_useless_without_its_signature(client: Any) -> None:
    body = upload(client, new_user_id()).get_json()
    path = urlsplit(body["imageUrl"]).path
    assert _fetch(client, path).status_code == 404
    assert _fetch(client, body["imageUrl"].replace("sig=", "sig=x")).status_code == 404
    expired = body["imageUrl"].split("exp=")[0] + "exp=1&sig=" + body["imageUrl"].split("sig=")[1]
    assert _fetch(client, expired).status_code == 404
    assert client.get("/media/../../etc/passwd").status_code == 404
    assert client.get("/media/originals/1/..%2F..%2Fetc%2Fpasswd?exp=9&sig=x").status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"GIF89a" + b"\x00" * 100, 415, "unsupported_media_type"),
        (b"%PDF-1.4 hello", 415, "unsupported_media_type"),
        (b"hello, I am text", 415, "unsupported_media_type"),
        (SELFIE.read_bytes()[:2000], 400, "invalid_image"),
        (b"", 400, None),
    ],
    ids=["gif", "pdf", "text", "truncated", "empty"],
)
def test_bad_uploads_are_refused_and_leave_nothing(client: Any, payload: bytes, status: int,
                                                  code: str | None) -> None:
    user_id = new_user_id()
    assert_error(upload(client, user_id, payload, filename="selfie.jpg"), status, code)
    assert _uploads_of(user_id) == 0


def test_oversize_upload_is_413(client: Any) -> None:
    user_id = new_user_id()
    big = SELFIE.read_bytes() + b"\x00" * (10 * 1024 * 1024)
    assert_error(upload(client, user_id, big), 413)
    assert _uploads_of(user_id) == 0


def test_missing_field_is_400(client: Any) -> None:
    response = client.post("/api/uploads", headers=auth(new_user_id()), data={})
    body = assert_error(response, 400, "invalid_request")
    assert "image" in body["error"]["message"]
