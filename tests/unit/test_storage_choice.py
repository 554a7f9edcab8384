"""Which storage the settings choose, and the presigned URLs of the S3 backend (signing is
local arithmetic: no request leaves the process)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from config import Settings
from media.s3_storage import MAX_PRESIGN_SECONDS, S3Storage
from media.storage import InvalidKey, new_key


def test_local_is_the_default() -> None:
    assert Settings.model_fields["storage_backend"].default == "local"


def test_s3_needs_a_bucket_and_nothing_else_is_a_backend() -> None:
    with pytest.raises(ValidationError, match="S3_BUCKET is required"):
        Settings(storage_backend="s3", s3_bucket=None)
    with pytest.raises(ValidationError):
        Settings(storage_backend="nfs")  # type: ignore[arg-type]


def test_the_s3_settings_reach_the_processes_a_test_starts() -> None:
    settings = Settings(storage_backend="s3", s3_bucket="b-1", s3_endpoint_url="http://s3:9000",
                        s3_region="auto", s3_presign_ttl_seconds=120)
    assert {name: value for name, value in settings.as_environment().items()
            if name.startswith(("S3_", "STORAGE_"))} == {
        "STORAGE_BACKEND": "s3", "S3_BUCKET": "b-1", "S3_ENDPOINT_URL": "http://s3:9000",
        "S3_REGION": "auto", "S3_PRESIGN_TTL_SECONDS": "120"}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-test")
    return S3Storage("headshots", endpoint_url="http://127.0.0.1:9", region="us-east-1")


def test_a_presigned_url_forces_the_type_and_lives_as_long_as_asked(store: S3Storage) -> None:
    key = new_key("results", 7, "webp", 1)
    url = store.presigned_url(key, ttl_seconds=240)
    assert url is not None
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://127.0.0.1:9/headshots/{key}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["240"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["response-content-type"] == ["image/webp"]
    assert query["response-content-disposition"] == [f'inline; filename="{key.split("/")[2]}"']


@pytest.mark.parametrize("ttl", [0, -1, MAX_PRESIGN_SECONDS + 1])
def test_a_presigned_url_lives_one_second_to_seven_days(store: S3Storage, ttl: int) -> None:
    with pytest.raises(ValueError):
        store.presigned_url(new_key("results", 7, "jpg"), ttl_seconds=ttl)


def test_a_bad_key_is_never_signed(store: S3Storage) -> None:
    with pytest.raises(InvalidKey):
        store.presigned_url("results/7/../../secrets.jpg", ttl_seconds=60)
