"""The app's library (API guide §6): favorites, batches, before/after, share links, export,
cancel, delete my data. In-process API against the run's PostgreSQL and Redis; jobs are moved
through the domain's own transitions where a worker would."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from media import get_storage
from models.clock import frozen_clock
from models.job.attempts import claim_job, complete_job
from models.job.endings import fail_job
from services.maintenance import delete_expired_originals
from services.unit_of_work import read_only, unit_of_work
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.assets import SELFIE
from tests.support.errors import assert_error
from tests.support.media import fetch_media
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def funded(client: Any, credits: int = 10) -> int:
    user_id = new_user_id()
    grant(client, user_id, credits)
    return user_id


def finish(job_id: int, outcome: str = "completed") -> list[str]:
    """Do what a worker would: claim the job, then complete it (with stored files) or fail it.
    Returns the keys it stored."""
    keys: list[str] = []
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, job_id)
        assert claimed is not None
        if outcome == "completed":
            from media.storage import new_key

            storage = get_storage()
            keys = [new_key("results", claimed.user_id, "jpg", 0),
                    new_key("thumbnails", claimed.user_id, "jpg")]
            for key in keys:
                storage.put(key, SELFIE.read_bytes(), "image/jpeg")
            done = complete_job(db_session, job_id, attempt=claimed.attempts,
                                       result_keys=keys[:1], thumbnail_key=keys[1],
                                       metadata={})
        else:
            done = fail_job(db_session, job_id, code="getimg_rejected", message="no",
                                   attempt=claimed.attempts)
        assert done is not None
        db_session.commit()
    return keys


def completed_job(client: Any, user_id: int) -> int:
    response = generate(client, user_id, uploaded_url(client, user_id))
    assert response.status_code == 202, response.get_json()
    job_id: int = response.get_json()["id"]
    finish(job_id)
    return job_id


def media_key(url: str) -> str:
    return urlsplit(url).path.removeprefix("/media/")


# ---- favorites ------------------------------------------------------------------------------


def test_favorites_are_idempotent_and_agree_with_history(client: Any) -> None:
    user_id = funded(client)
    url = uploaded_url(client, user_id)
    first, second = (generate(client, user_id, url).get_json()["id"] for _ in range(2))
    for _ in range(2):  # twice: idempotent
        response = client.post(f"/api/headshots/{second}/favorite", headers=auth(user_id))
        assert response.status_code == 200 and response.get_json()["isFavorite"] is True
    favorites = client.get("/api/headshots/favorites", headers=auth(user_id)).get_json()
    assert [item["id"] for item in favorites["data"]] == [second]
    filtered = client.get("/api/headshots/history?favorite=true", headers=auth(user_id))
    assert [item["id"] for item in filtered.get_json()["data"]] == [second]
    others = client.get("/api/headshots/history?favorite=false", headers=auth(user_id))
    assert [item["id"] for item in others.get_json()["data"]] == [first]
    for _ in range(2):
        response = client.delete(f"/api/headshots/{second}/favorite", headers=auth(user_id))
        assert response.status_code == 200 and response.get_json()["isFavorite"] is False
    assert client.get("/api/headshots/favorites", headers=auth(user_id)).get_json()["data"] == []
    stranger = new_user_id()
    assert_error(client.post(f"/api/headshots/{second}/favorite", headers=auth(stranger)), 404)


# ---- batches --------------------------------------------------------------------------------


def test_a_batch_is_charged_at_once_and_ends_partial(client: Any) -> None:
    user_id = funded(client, 4)  # corporate 1 + creative 1 + model 2
    url = uploaded_url(client, user_id)
    response = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": url, "styles": ["corporate", "creative", "model"], "aspectRatio": "4:5"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    batch_id = body["batchId"]
    jobs = body["generations"]
    assert [job["style"] for job in jobs] == ["corporate", "creative", "model"]
    assert {job["batchId"] for job in jobs} == {batch_id}
    assert {job["aspectRatio"] for job in jobs} == {"4:5"}
    assert me(client, user_id)["credits"] == 0

    def read() -> dict[str, Any]:
        answer = client.get(f"/api/headshots/batch/{batch_id}", headers=auth(user_id))
        assert answer.status_code == 200
        result: dict[str, Any] = answer.get_json()
        return result

    assert (read()["status"], read()["progress"]) == ("queued", 0)
    finish(jobs[0]["id"])
    assert read()["status"] == "processing"
    finish(jobs[1]["id"])
    finish(jobs[2]["id"], "failed")
    ended = read()
    assert ended["status"] == "partial"
    assert [job["status"] for job in ended["generations"]] == ["completed", "completed", "failed"]
    assert me(client, user_id)["credits"] == 2  # the failed style (model) alone was refunded

    download = client.get(f"/api/headshots/batch/{batch_id}/download", headers=auth(user_id))
    assert download.status_code == 200 and download.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert sorted(archive.namelist()) == ["corporate.jpg", "creative.jpg"]
    assert archive.read("corporate.jpg") == SELFIE.read_bytes()

    # the failed style is retried like any job, and the batch runs again
    retried = client.post(f"/api/headshots/{jobs[2]['id']}/retry", headers=auth(user_id))
    assert retried.status_code == 202 and retried.get_json()["batchId"] == batch_id
    assert read()["status"] == "processing"
    finish(jobs[2]["id"])
    assert read()["status"] == "completed"


def test_a_batch_needs_credits_for_every_style_or_nothing_is_written(client: Any) -> None:
    user_id = funded(client, 3)  # one short of corporate 1 + creative 1 + model 2
    url = uploaded_url(client, user_id)
    response = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": url, "styles": ["corporate", "creative", "model"]})
    assert_error(response, 402, "insufficient_credits")
    assert me(client, user_id)["credits"] == 3
    assert client.get("/api/headshots/history", headers=auth(user_id)).get_json()["data"] == []


@pytest.mark.parametrize(("styles", "field"), [
    (["corporate", "corporate"], "styles"), ([], "styles"), (["corporate", "nope"], "style"),
    ("corporate", "styles"), ([1], "styles"),
])
def test_a_bad_batch_is_a_400_that_changes_nothing(client: Any, styles: Any, field: str
                                                   ) -> None:
    user_id = funded(client, 5)
    url = uploaded_url(client, user_id)
    response = client.post("/api/headshots/batch", headers=auth(user_id),
                           json={"imageUrl": url, "styles": styles})
    assert_error(response, 400, field=field)
    assert me(client, user_id)["credits"] == 5
    assert client.get("/api/headshots/history", headers=auth(user_id)).get_json()["data"] == []


def test_a_batch_honours_its_idempotency_key_and_stays_its_owners(client: Any) -> None:
    user_id = funded(client, 4)
    url = uploaded_url(client, user_id)
    body = {"imageUrl": url, "styles": ["corporate", "casual"]}
    headers = {**auth(user_id), "Idempotency-Key": "batch-1"}
    first = client.post("/api/headshots/batch", headers=headers, json=body)
    again = client.post("/api/headshots/batch", headers=headers, json=body)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["batchId"] == again.get_json()["batchId"]
    assert me(client, user_id)["credits"] == 2
    assert_error(client.post("/api/headshots/batch", headers=headers,
                             json={**body, "styles": ["corporate"]}), 409,
                 "idempotency_key_reused")
    batch_id = first.get_json()["batchId"]
    stranger = funded(client, 1)
    for path in (f"/api/headshots/batch/{batch_id}", f"/api/headshots/batch/{batch_id}/download",
                 f"/api/headshots/batch/{uuid.uuid4()}"):
        assert_error(client.get(path, headers=auth(stranger)), 404)
    assert_error(client.get(f"/api/headshots/batch/{batch_id}/download", headers=auth(user_id)),
                 409, "nothing_completed")


# ---- before / after -------------------------------------------------------------------------


def test_the_before_preview_outlives_the_original_and_goes_with_the_headshot(client: Any
                                                                           ) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    item = client.get(f"/api/headshots/history/{job_id}", headers=auth(user_id)).get_json()
    preview_key = media_key(item["beforeImageUrl"])
    preview = Image.open(io.BytesIO(get_storage().get(preview_key)))
    assert preview.format == "JPEG" and max(preview.size) <= 512 and not preview.getexif()
    served = fetch_media(client, item["beforeImageUrl"])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"

    with frozen_clock() as clock:  # past the retention: the original goes, the preview stays
        clock.advance(seconds=31 * 60)
        assert delete_expired_originals() >= 1
        later = client.get(f"/api/headshots/history/{job_id}", headers=auth(user_id)).get_json()
    assert later["originalImageUrl"] is None
    assert media_key(later["beforeImageUrl"]) == preview_key
    assert get_storage().exists(preview_key)

    assert client.delete(f"/api/headshots/history/{job_id}", headers=auth(user_id)
                         ).status_code == 204
    assert not get_storage().exists(preview_key)


# ---- share links ----------------------------------------------------------------------------

OG_TAG = re.compile(r'<meta (?:property|name)="((?:og|twitter):[a-z:]+)" content="([^"]*)">')


def test_a_share_link_shows_the_headshot_until_revoked(client: Any) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    response = client.post(f"/api/headshots/{job_id}/share", headers=auth(user_id),
                           json={"expiresInHours": 2})
    assert response.status_code == 201, response.get_json()
    share_url = response.get_json()["shareUrl"]
    token = share_url.rsplit("/", 1)[1]
    # The link names nothing but a random token (a substring check on the ids would be flaky:
    # a random 32-character token contains a short job id by chance now and then).
    assert urlsplit(share_url).path == f"/s/{token}" and len(token) >= 22
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and token not in (str(job_id), str(user_id))
    page = client.get(urlsplit(share_url).path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    tags = dict(OG_TAG.findall(page.get_data(as_text=True)))
    assert tags["og:image"] == share_url + "/image"
    assert tags["twitter:card"] == "summary_large_image" and tags["og:title"]
    image = fetch_media(client, share_url + "/image")
    assert image.status_code == 200 and image.data == SELFIE.read_bytes()
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    assert client.delete(f"/api/headshots/{job_id}/share", headers=auth(user_id)
                         ).status_code == 204
    assert client.get(urlsplit(share_url).path).status_code == 410
    assert client.get(urlsplit(share_url).path + "/image").status_code == 410
    assert client.get("/s/" + "A" * 32).status_code == 404


def test_a_share_link_expires_and_dies_with_its_headshot(client: Any) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    with frozen_clock() as clock:
        share_url = client.post(f"/api/headshots/{job_id}/share", headers=auth(user_id),
                                json={}).get_json()["shareUrl"]
        path = urlsplit(share_url).path
        assert client.get(path).status_code == 200
        clock.advance(seconds=7 * 24 * 3600 + 1)  # the default lifetime: a week
        assert client.get(path).status_code == 410
    fresh = client.post(f"/api/headshots/{job_id}/share", headers=auth(user_id), json={})
    fresh_path = urlsplit(fresh.get_json()["shareUrl"]).path
    assert client.get(fresh_path).status_code == 200
    assert client.delete(f"/api/headshots/history/{job_id}", headers=auth(user_id)
                         ).status_code == 204
    assert client.get(fresh_path).status_code == 410


def test_only_a_completed_headshot_of_ones_own_can_be_shared(client: Any) -> None:
    user_id = funded(client)
    queued = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    assert_error(client.post(f"/api/headshots/{queued}/share", headers=auth(user_id), json={}),
                 409, "not_completed")
    done = completed_job(client, user_id)
    stranger = new_user_id()
    assert_error(client.post(f"/api/headshots/{done}/share", headers=auth(stranger), json={}),
                 404)
    for hours in (0, 10_000, "2", 1.5):
        assert_error(client.post(f"/api/headshots/{done}/share", headers=auth(user_id),
                                 json={"expiresInHours": hours}), 400, field="expiresInHours")


# ---- export ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "content_type", "long_side"), [
    ("", "image/jpeg", 512), ("?format=png&size=256", "image/png", 256),
    ("?format=webp&size=4096&watermark=%C2%A9%20Jane", "image/webp", 512),
])
def test_export(client: Any, query: str, content_type: str, long_side: int) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    response = client.get(f"/api/headshots/{job_id}/export{query}", headers=auth(user_id))
    assert response.status_code == 200, response.data[:200]
    assert response.mimetype == content_type
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}[content_type]
    assert re.search(rf'filename=headshot-{job_id}-\d+x\d+\.{extension}',
                     response.headers["Content-Disposition"])
    image = Image.open(io.BytesIO(response.data))
    assert max(image.size) == long_side and not image.getexif()
    # Never upscaled (size=4096 of a 512 px headshot): the headers say what came back.
    assert (int(response.headers["X-Image-Width"]),
            int(response.headers["X-Image-Height"])) == image.size


@pytest.mark.parametrize("watermark", ["山田 花子", "محمد علي", "अर्जुन शर्मा", "김민준 Kim"])
def test_a_watermark_in_any_script_people_write_names_in_exports(client: Any,
                                                                 watermark: str) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    url = f"/api/headshots/{job_id}/export"
    plain = client.get(url, query_string={"format": "png"}, headers=auth(user_id))
    marked = client.get(url, query_string={"format": "png", "watermark": watermark},
                        headers=auth(user_id))
    assert marked.status_code == plain.status_code == 200, marked.data[:200]
    assert marked.data != plain.data


@pytest.mark.parametrize(("query", "field"), [
    ("?format=gif", "format"), ("?size=10", "size"), ("?size=1e3", "size"),
    ("?size=99999", "size"), ("?watermark=" + "w" * 65, "watermark"),
    ("?watermark=%F0%9F%A6%84", "watermark"), ("?watermark=Jane%20%F0%93%80%80", "watermark"),
    ("?format=png&format=jpeg", "format"),
])
def test_bad_export_parameters_are_400(client: Any, query: str, field: str) -> None:
    user_id = funded(client)
    job_id = completed_job(client, user_id)
    assert_error(client.get(f"/api/headshots/{job_id}/export{query}", headers=auth(user_id)),
                 400, field=field)


def test_only_a_completed_headshot_exports(client: Any) -> None:
    user_id = funded(client)
    queued = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    assert_error(client.get(f"/api/headshots/{queued}/export", headers=auth(user_id)), 409,
                 "not_completed")


# ---- cancel ---------------------------------------------------------------------------------


def test_cancel_refunds_at_once_and_a_finished_job_is_409(client: Any) -> None:
    user_id = funded(client, 1)
    job_id = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    assert me(client, user_id)["credits"] == 0
    response = client.post(f"/api/headshots/{job_id}/cancel", headers=auth(user_id))
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "cancelled"
    assert me(client, user_id)["credits"] == 1
    status = client.get(f"/api/headshots/status/{job_id}", headers=auth(user_id)).get_json()
    assert status["status"] == "failed" and status["error"]["code"] == "cancelled"
    assert_error(client.post(f"/api/headshots/{job_id}/cancel", headers=auth(user_id)), 409,
                 "already_finished")
    assert me(client, user_id)["credits"] == 1  # refunded once


def test_deleting_a_running_job_cancels_it(client: Any) -> None:
    user_id = funded(client, 1)
    job_id = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    with unit_of_work() as db_session:
        assert claim_job(db_session, job_id) is not None
        db_session.commit()
    assert client.delete(f"/api/headshots/history/{job_id}", headers=auth(user_id)
                         ).status_code == 204
    assert me(client, user_id)["credits"] == 1
    assert_error(client.get(f"/api/headshots/history/{job_id}", headers=auth(user_id)), 404)


# ---- delete my data -------------------------------------------------------------------------


def test_delete_my_data_removes_every_image_and_keeps_the_ledger(client: Any) -> None:
    user_id = funded(client, 5)
    done = completed_job(client, user_id)
    running = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    share_path = urlsplit(client.post(f"/api/headshots/{done}/share", headers=auth(user_id),
                                      json={}).get_json()["shareUrl"]).path
    other = funded(client, 1)
    others_job = completed_job(client, other)
    user_files = lambda who: [key for key in _all_keys() if key.split("/")[1] == str(who)]  # noqa: E731
    assert user_files(user_id) and user_files(other)
    ledger_before = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]

    for _ in range(2):  # idempotent
        assert client.delete("/api/me", headers=auth(user_id)).status_code == 204
    assert user_files(user_id) == []
    assert client.get(share_path).status_code == 410
    assert client.get("/api/headshots/history", headers=auth(user_id)).get_json()["data"] == []
    assert me(client, user_id)["credits"] == 4  # the running job was cancelled and refunded
    ledger_after = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]
    assert ledger_after[1:] == ledger_before and ledger_after[0]["type"] == "refund"
    assert running in {entry["generationId"] for entry in ledger_after}
    assert user_files(other)  # nobody else's
    assert client.get(f"/api/headshots/history/{others_job}", headers=auth(other)
                      ).status_code == 200


def _all_keys() -> list[str]:
    return get_storage().keys()


def test_a_batch_deleted_while_running_still_gets_its_webhook(client: Any) -> None:
    """Found in review: the batch's webhook was built from its live jobs only, so a batch its
    owner deleted (which ends it) could never be sent."""
    from sqlalchemy import select

    from models.outbox import OutboxEvent
    from services.webhooks import payload

    user_id = funded(client, 2)
    batch_id = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": uploaded_url(client, user_id), "styles": ["corporate", "casual"]},
    ).get_json()["batchId"]
    assert client.delete("/api/me", headers=auth(user_id)).status_code == 204
    with read_only() as db_session:
        event = db_session.scalars(select(OutboxEvent).where(
            OutboxEvent.batch_id == uuid.UUID(batch_id))).one()
    body = payload(event)
    assert body["type"] == "batch.failed"
    assert [job["error"]["code"] for job in body["data"]["batch"]["generations"]] == \
        ["cancelled", "cancelled"]
