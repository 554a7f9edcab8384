"""Images in an S3-compatible store (moto's server on loopback, speaking S3's HTTP protocol):
the Storage interface on both backends, /media redirecting to a presigned URL, and every delete
emptying the bucket. (The storage-heavy suites also run whole against S3 in CI:
HEADSHOTS_TEST_STORAGE=s3, see the README.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from config import Settings, get_settings, use_settings
from media import get_storage
from media.s3_storage import S3Storage
from media.storage import (
    InvalidKey,
    LocalStorage,
    Storage,
    StorageNotFound,
    StorageUnavailable,
    new_key,
)
from models.clock import frozen_clock
from services.maintenance import delete_expired_originals
from tests.support.api_calls import upload
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import footprint
from tests.support.media import fetch_media
from tests.support.session import TEST_BUCKET
from tests.support.users import auth, new_user_id


def s3_settings(endpoint: str, **changes: Any) -> Settings:
    return get_settings().model_copy(update={
        "storage_backend": "s3", "s3_bucket": TEST_BUCKET, "s3_endpoint_url": endpoint,
        "s3_region": "us-east-1", **changes})


@pytest.fixture
def in_s3(stack: dict[str, int], object_store: str) -> Iterator[S3Storage]:
    """This test's process keeps its images in the run's S3 bucket (whatever the run uses)."""
    previous = get_settings()
    use_settings(s3_settings(object_store))
    try:
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        yield storage
    finally:
        use_settings(previous)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    endpoint = request.getfixturevalue("object_store")
    return S3Storage(TEST_BUCKET, endpoint_url=endpoint, region="us-east-1")


def user_keys(storage: Storage, user_id: int) -> list[str]:
    return [key for kind in ("originals", "previews", "results", "thumbnails")
            for key in storage.keys(f"{kind}/{user_id}/")]


# ---- the interface, on both backends --------------------------------------------------------


def test_put_get_exists_delete_list_on_both_backends(storage: Storage) -> None:
    user_id = new_user_id()
    key = new_key("results", user_id, "png", 0)
    assert not storage.exists(key) and storage.keys(f"results/{user_id}/") == []
    storage.put(key, b"\x89PNG first", "image/png")
    storage.put(key, b"\x89PNG second", "image/png")  # a put replaces
    assert storage.exists(key) and storage.get(key) == b"\x89PNG second"
    assert storage.keys(f"results/{user_id}/") == [key]
    assert storage.delete(key) is True and storage.delete(key) is False
    assert not storage.exists(key) and storage.keys(f"results/{user_id}/") == []
    with pytest.raises(StorageNotFound):
        storage.get(key)


@pytest.mark.parametrize("key", ["../etc/passwd", "originals/1/../../x.jpg", "/originals/1/a.jpg",
                                 "originals/1/" + "a" * 32 + ".gif", "originals/1/%2e%2e.jpg"])
def test_bad_keys_are_refused_before_reaching_either_backend(storage: Storage, key: str) -> None:
    for call in (lambda: storage.put(key, b"x", "image/jpeg"), lambda: storage.get(key),
                 lambda: storage.exists(key), lambda: storage.delete(key),
                 lambda: storage.presigned_url(key, ttl_seconds=60)):
        with pytest.raises(InvalidKey):
            call()


def test_a_content_type_that_contradicts_the_key_is_refused(storage: Storage) -> None:
    key = new_key("originals", new_user_id(), "jpg")
    with pytest.raises(ValueError):
        storage.put(key, b"<html>", "text/html")
    assert not storage.exists(key)


def test_only_the_object_store_presigns(storage: Storage) -> None:
    key = new_key("thumbnails", new_user_id(), "jpg")
    storage.put(key, b"\xff\xd8", "image/jpeg")
    url = storage.presigned_url(key, ttl_seconds=120)
    if isinstance(storage, LocalStorage):
        assert url is None  # the web process sends local files itself
    else:
        assert url is not None and requests.get(url, timeout=10).content == b"\xff\xd8"


# ---- /media with the object store --------------------------------------------------------------


def test_media_url_redirects_to_a_presigned_url_that_serves_the_image(client: Any,
                                                                      in_s3: S3Storage) -> None:
    user_id = funded_user()
    key = stored_upload(user_id)
    assert in_s3.exists(key)
    assert not (get_settings().media_root / key).exists()  # nothing on this host's disk
    url = signed_url(key)
    parts = urlsplit(url)
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302 and not answer.data  # no image byte through the app
    location = answer.headers["Location"]
    assert location.startswith(f"{get_settings().s3_endpoint_url}/{TEST_BUCKET}/{key}?")
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    query = parse_qs(urlsplit(location).query)
    # moto does not enforce a presigned URL's expiry (its S3 never reads X-Amz-Expires), so the
    # expiry is checked where it is decided, the signed parameters: a few minutes
    # (S3_PRESIGN_TTL_SECONDS) from now, whatever our own URL's lifetime.
    assert query["X-Amz-Expires"] == [str(get_settings().s3_presign_ttl_seconds)] == ["300"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    assert query["response-content-type"] == ["image/jpeg"]

    served = requests.get(location, timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.content == in_s3.get(key)
    assert served.headers["Content-Disposition"].startswith("inline")


def test_an_expired_or_forged_media_url_is_a_404_and_never_a_redirect(client: Any,
                                                                      in_s3: S3Storage) -> None:
    key = stored_upload(funded_user())
    short = signed_url(key, expires_at=datetime.fromtimestamp(time.time() + 2, UTC))
    assert fetch_media(client, short).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.get(
            urlsplit(short).path + "?" + urlsplit(short).query).status_code == 302:
        time.sleep(0.2)
    assert_error(fetch_media(client, short), 404, "not_found")
    assert_error(fetch_media(client, signed_url(key).replace("sig=", "sig=A")), 404, "not_found")


def test_a_deleted_image_is_our_404_not_the_stores(client: Any, in_s3: S3Storage) -> None:
    key = stored_upload(funded_user())
    url = signed_url(key)
    in_s3.delete(key)
    assert_error(fetch_media(client, url), 404, "not_found")


# ---- every delete empties the bucket -------------------------------------------------------


def test_delete_my_data_removes_every_object_of_the_user(client: Any, in_s3: S3Storage) -> None:
    user_id, other = funded_user(), funded_user()
    make_job(user_id, stored_upload(user_id), "completed")
    make_job(other, stored_upload(other), "completed")
    kinds = {key.split("/")[0] for key in user_keys(in_s3, user_id)}
    assert kinds == {"originals", "previews", "results", "thumbnails"}
    others = user_keys(in_s3, other)

    assert client.delete("/api/me", headers=auth(user_id)).status_code == 204
    assert user_keys(in_s3, user_id) == []  # listed from the bucket itself
    assert user_keys(in_s3, other) == others


def test_deleting_a_headshot_removes_its_objects(client: Any, in_s3: S3Storage) -> None:
    user_id = funded_user()
    job = make_job(user_id, stored_upload(user_id), "completed")
    assert {job["result"], job["thumbnail"]} <= set(in_s3.keys())
    response = client.delete(f"/api/headshots/history/{job['id']}", headers=auth(user_id))
    assert response.status_code == 204
    assert not {job["result"], job["thumbnail"]} & set(in_s3.keys())


def test_the_clean_up_deletes_expired_originals_from_the_bucket(in_s3: S3Storage) -> None:
    user_id = funded_user()
    key = stored_upload(user_id)
    assert in_s3.keys(f"originals/{user_id}/") == [key]
    with frozen_clock() as clock:
        clock.advance(seconds=31 * 60)
        assert delete_expired_originals() >= 1
    assert in_s3.keys(f"originals/{user_id}/") == []


def test_export_reads_the_result_from_the_bucket(client: Any, in_s3: S3Storage) -> None:
    user_id = funded_user()
    job = make_job(user_id, stored_upload(user_id), "completed")
    answer = client.get(f"/api/headshots/{job['id']}/export?format=png&size=128",
                        headers=auth(user_id))
    assert answer.status_code == 200 and answer.mimetype == "image/png", answer.data[:200]


# ---- the store down --------------------------------------------------------------------------


def test_an_unreachable_store_is_a_503_and_keeps_nothing(client: Any,
                                                         stack: dict[str, int]) -> None:
    from devstack.processes import free_port

    previous = get_settings()
    use_settings(s3_settings(f"http://127.0.0.1:{free_port()}"))  # nothing listens there
    try:
        user_id = funded_user()
        before = footprint(user_id, media=False)
        answer = upload(client, user_id)
        assert_error(answer, 503, "storage_unavailable")
        assert footprint(user_id, media=False) == before
        with pytest.raises(StorageUnavailable):
            get_storage().check()
    finally:
        use_settings(previous)


def test_a_share_links_image_redirects_to_the_store_and_its_page_may_show_it(
        client: Any, in_s3: S3Storage) -> None:
    user_id = funded_user()
    job = make_job(user_id, stored_upload(user_id), "completed")
    share_url = client.post(f"/api/headshots/{job['id']}/share", headers=auth(user_id),
                            json={}).get_json()["shareUrl"]
    page = client.get(urlsplit(share_url).path)
    store = get_settings().s3_endpoint_url
    assert f"img-src 'self' {store};" in page.headers["Content-Security-Policy"]
    answer = client.get(urlsplit(share_url).path + "/image")
    assert answer.status_code == 302 and not answer.data
    assert answer.headers["Location"].startswith(f"{store}/{TEST_BUCKET}/{job['result']}?")
    assert requests.get(answer.headers["Location"], timeout=10).content == in_s3.get(job["result"])
    in_s3.delete(job["result"])
    assert client.get(urlsplit(share_url).path + "/image").status_code == 410


def test_a_store_outage_is_an_io_error_as_a_failing_disks_is() -> None:
    from devstack.processes import free_port

    down = S3Storage(TEST_BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}",
                     region="us-east-1")
    key = new_key("results", new_user_id(), "jpg", 0)
    for call in (lambda: down.put(key, b"\xff\xd8", "image/jpeg"), lambda: down.get(key),
                 lambda: down.delete(key), lambda: down.exists(key), down.check):
        with pytest.raises(OSError) as raised:  # the worker's clean-up catches OSError
            call()
        assert isinstance(raised.value, StorageUnavailable)
