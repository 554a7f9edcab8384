"""Caching for the app (§12): ETags and 304s on the JSON reads, signed media URLs that stay the
same within their window, and image sizes recorded beside every image URL. In-process API
against the run's PostgreSQL and Redis; jobs moved through the domain's own transitions where a
worker would."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from media import get_signer, get_storage
from media.storage import new_key
from models.job.attempts import claim_job, complete_job
from services.unit_of_work import unit_of_work
from tests.support.api_calls import generate, grant, uploaded_url
from tests.support.assets import SELFIE
from tests.support.errors import assert_error
from tests.support.media import fetch_media
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def funded(client: Any, credits: int = 10) -> int:
    user_id = new_user_id()
    grant(client, user_id, credits)
    return user_id


def queued_job(client: Any, user_id: int, aspect_ratio: str = "1:1") -> dict[str, Any]:
    response = generate(client, user_id, uploaded_url(client, user_id),
                        aspect_ratio=aspect_ratio)
    assert response.status_code == 202, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def complete(job_id: int, *, sizes: bool = True) -> None:
    """What a worker does: a result and a thumbnail stored (the fixture selfie, 512x512) and the
    job completed; with `sizes`, their sizes recorded as the worker records them (without: a
    job completed before sizes were recorded)."""
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, job_id)
        assert claimed is not None
        storage = get_storage()
        keys = [new_key("results", claimed.user_id, "jpg", 0),
                new_key("thumbnails", claimed.user_id, "jpg")]
        for key in keys:
            storage.put(key, SELFIE.read_bytes(), "image/jpeg")
        done = complete_job(db_session, job_id, attempt=claimed.attempts, result_keys=keys[:1],
                            thumbnail_key=keys[1], metadata={},
                            result_sizes=[(512, 512)] if sizes else None,
                            thumbnail_size=(320, 320) if sizes else None)
        assert done is not None
        db_session.commit()


def read(client: Any, user_id: int, path: str, **headers: str) -> Any:
    return client.get(path, headers={**auth(user_id), **headers})


# ---- ETag and 304 ---------------------------------------------------------------------------


def assert_revalidates(client: Any, user_id: int, path: str,
                       cache_control: str = "private, no-cache") -> str:
    """The read carries an ETag; sending it back is a bodiless 304 with the same ETag; the
    same read again has the same ETag (nothing in the body moves between reads). Returns it."""
    first = read(client, user_id, path)
    assert first.status_code == 200, (path, first.get_json())
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10, etag
    assert first.headers["Cache-Control"] == cache_control
    assert "Authorization" in first.headers["Vary"]
    again = read(client, user_id, path)
    assert again.headers["ETag"] == etag, f"{path}: the body changed between two reads"
    assert again.data == first.data
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = read(client, user_id, path, **{"If-None-Match": sent})
        assert not_modified.status_code == 304, (path, sent)
        assert not_modified.data == b""
        assert not_modified.headers["ETag"] == etag
        assert not_modified.headers["Cache-Control"] == cache_control
        assert "Authorization" in not_modified.headers["Vary"]
    other = read(client, user_id, path, **{"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data
    return str(etag)


def test_every_json_read_revalidates(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"])
    batch = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": uploaded_url(client, user_id), "styles": ["corporate", "creative"]})
    assert batch.status_code == 202, batch.get_json()
    assert client.post(f"/api/headshots/{job['id']}/favorite",
                       headers=auth(user_id)).status_code == 200
    for path in ("/api/me", "/api/credits/history", "/api/headshots/history",
                 f"/api/headshots/history/{job['id']}", "/api/headshots/favorites",
                 f"/api/headshots/batch/{batch.get_json()['batchId']}"):
        assert_revalidates(client, user_id, path)
    assert_revalidates(client, user_id, "/api/headshots/styles", "private, max-age=300")


def test_the_etag_changes_when_the_resource_does(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"])
    item, favorites = f"/api/headshots/history/{job['id']}", "/api/headshots/favorites"
    before = {path: assert_revalidates(client, user_id, path)
              for path in (item, favorites, "/api/me")}
    assert client.post(f"/api/headshots/{job['id']}/favorite",
                       headers=auth(user_id)).status_code == 200
    for path in (item, favorites):
        answer = read(client, user_id, path, **{"If-None-Match": before[path]})
        assert answer.status_code == 200, path  # the old ETag no longer holds
        assert answer.headers["ETag"] != before[path]
    assert read(client, user_id, item).get_json()["isFavorite"] is True
    toggled = assert_revalidates(client, user_id, item)
    assert client.delete(f"/api/headshots/{job['id']}/favorite",
                         headers=auth(user_id)).status_code == 200
    assert read(client, user_id, item, **{"If-None-Match": toggled}).status_code == 200
    # Unchanged by the favorite, the account's ETag still holds; a new charge changes it.
    assert read(client, user_id, "/api/me", **{"If-None-Match": before["/api/me"]}
                ).status_code == 304
    queued_job(client, user_id)
    assert read(client, user_id, "/api/me", **{"If-None-Match": before["/api/me"]}
                ).status_code == 200


def test_an_etag_is_no_key_to_anyone_elses_resource(client: Any) -> None:
    owner, stranger = funded(client), new_user_id()
    job = queued_job(client, owner)
    etag = assert_revalidates(client, owner, f"/api/headshots/history/{job['id']}")
    assert_error(read(client, stranger, f"/api/headshots/history/{job['id']}",
                      **{"If-None-Match": etag}), 404, "not_found")
    assert_error(client.get("/api/me", headers={"If-None-Match": etag}), 401)


def test_errors_and_writes_carry_no_etag(client: Any) -> None:
    user_id = new_user_id()
    missing = read(client, user_id, "/api/headshots/history/999999999")
    assert missing.status_code == 404 and "ETag" not in missing.headers
    answer = client.post("/api/headshots/999999999/favorite", headers=auth(user_id))
    assert answer.status_code == 404 and "ETag" not in answer.headers


# ---- signed media URLs stay the same within their window --------------------------------------


def _expiry(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["exp"][0])


def test_the_urls_of_a_headshot_stay_the_same_across_reads(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"])
    path = f"/api/headshots/history/{job['id']}"
    first = read(client, user_id, path).get_json()
    time.sleep(1.1)  # a second later: a URL signed to the second would differ now
    second = read(client, user_id, path).get_json()
    urls = ["originalImageUrl", "beforeImageUrl", "thumbnailUrl"]
    assert [first[name] for name in urls] == [second[name] for name in urls]
    assert first["resultUrls"] == second["resultUrls"]
    signer = get_signer()
    now = time.time()
    window_expiry = signer.window_expiry(now)
    for url in [*first["resultUrls"], first["thumbnailUrl"], first["beforeImageUrl"]]:
        assert _expiry(url) == window_expiry and _expiry(url) - now >= signer.ttl_seconds - 2
    # The original's URL ends no later than the original itself.
    assert _expiry(first["originalImageUrl"]) <= window_expiry


def test_media_answers_are_cacheable_until_their_url_expires(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"])
    url = read(client, user_id, f"/api/headshots/history/{job['id']}").get_json()["thumbnailUrl"]
    answer = fetch_media(client, url)
    if answer.redirected_by is not None:  # type: ignore[attr-defined]
        pytest.skip("STORAGE_BACKEND=s3: the image's caching headers are the store's")
    assert answer.status_code == 200 and answer.headers["ETag"]
    directives = [part.strip() for part in answer.headers["Cache-Control"].split(",")]
    assert directives[0] == "private" and directives[2] == "immutable"
    max_age = int(directives[1].removeprefix("max-age="))
    assert abs(_expiry(url) - time.time() - max_age) <= 2
    assert fetch_media(client, url, headers={"If-None-Match": answer.headers["ETag"]}
                       ).status_code == 304


def test_a_stable_url_is_still_signed_and_still_expires(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"])
    url = read(client, user_id, f"/api/headshots/history/{job['id']}").get_json()["thumbnailUrl"]
    exp = _expiry(url)
    key = urlsplit(url).path.removeprefix("/media/")
    for tampered in (url.replace(f"exp={exp}", f"exp={exp + 3600}"),  # the next window's
                     url.replace(f"exp={exp}", f"exp={exp - 3600}"),  # the previous one's
                     url.replace(key, key.replace("thumbnails", "results"))):
        assert fetch_media(client, tampered).status_code == 404, tampered
    short = get_signer().sign(key, expires_at=_at(time.time() + 1.5)).url
    assert fetch_media(client, short).status_code == 200
    time.sleep(2)
    assert fetch_media(client, short).status_code == 404


def _at(moment: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, UTC)


# ---- image sizes beside image URLs ----------------------------------------------------------


def test_every_image_url_of_a_headshot_has_its_recorded_size(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    # Queued: no results yet; the original and its before preview, with their sizes.
    assert job["results"] == [] and job["thumbnail"] is None
    assert job["originalImage"] == {"url": job["originalImageUrl"], "width": 512,
                                    "height": 512}
    assert job["beforeImage"] == {"url": job["beforeImageUrl"], "width": 512, "height": 512}
    complete(job["id"])
    for path in (f"/api/headshots/history/{job['id']}", f"/api/headshots/status/{job['id']}"):
        shown = read(client, user_id, path).get_json()
        assert shown["results"] == [{"url": shown["resultUrls"][0], "width": 512,
                                     "height": 512}], path
        assert shown["thumbnail"] == {"url": shown["thumbnailUrl"], "width": 320,
                                      "height": 320}, path


def test_images_stored_before_sizes_were_recorded_show_null_sizes(client: Any) -> None:
    user_id = funded(client)
    job = queued_job(client, user_id)
    complete(job["id"], sizes=False)
    with unit_of_work() as db_session:  # an upload from before its preview's size was kept
        from models.uploads import Upload

        upload = db_session.get(Upload, _upload_id(job["id"]))
        assert upload is not None
        upload.preview_width = upload.preview_height = None
        db_session.commit()
    from services.status_cache import get_status_cache

    get_status_cache().forget(job["id"])
    for path in (f"/api/headshots/history/{job['id']}", f"/api/headshots/status/{job['id']}"):
        shown = read(client, user_id, path).get_json()
        assert shown["results"] == [{"url": shown["resultUrls"][0], "width": None,
                                     "height": None}], path
        assert shown["thumbnail"] == {"url": shown["thumbnailUrl"], "width": None,
                                      "height": None}, path
    item = read(client, user_id, f"/api/headshots/history/{job['id']}").get_json()
    assert item["beforeImage"] == {"url": item["beforeImageUrl"], "width": None,
                                   "height": None}
    assert (item["originalImage"]["width"], item["originalImage"]["height"]) == (512, 512)


def _upload_id(job_id: int) -> Any:
    from models.job.table import Job

    with unit_of_work() as db_session:
        job = db_session.get(Job, job_id)
        assert job is not None
        return job.upload_id
