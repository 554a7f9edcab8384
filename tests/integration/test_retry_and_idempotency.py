"""Retry of failed jobs, Idempotency-Key replays (also under a race) and rate limits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from models.job.endings import fail_job
from models.job.table import Job
from models.uploads import Upload
from services.unit_of_work import unit_of_work
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.errors import assert_error
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _failed_job(client: Any, credits: int = 2) -> tuple[int, int]:
    user_id = new_user_id()
    grant(client, user_id, credits)
    job = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    with unit_of_work() as db_session:
        fail_job(db_session, job, code="getimg_unavailable", message="down")
        db_session.commit()
    return user_id, job


def test_retry_requeues_a_failed_job_and_charges_again(client: Any) -> None:
    user_id, job = _failed_job(client)
    assert me(client, user_id)["credits"] == 2  # charged and refunded
    response = client.post(f"/api/headshots/{job}/retry", headers=auth(user_id))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/headshots/status/{job}"
    assert body["id"] == job and body["status"] == "queued" and body["retryCount"] == 1
    assert body["progress"] == 0 and body["error"] is None and body["metadata"]["attempts"] == 0
    assert me(client, user_id)["credits"] == 1
    ledger = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]
    assert [(e["type"], e["amount"], e["generationId"]) for e in ledger[:3]] == [
        ("headshot", -1, job), ("refund", 1, job), ("headshot", -1, job)]
    # Not failed any more: a second retry is a conflict and charges nothing.
    assert_error(client.post(f"/api/headshots/{job}/retry", headers=auth(user_id)), 409,
                 "not_failed")
    assert me(client, user_id)["credits"] == 1


def test_retry_needs_the_original(client: Any) -> None:
    user_id, job = _failed_job(client)
    with unit_of_work() as db_session:
        row = db_session.get(Job, job)
        assert row is not None
        upload = db_session.get(Upload, row.upload_id)
        assert upload is not None
        upload.deleted_at = upload.created_at
        db_session.commit()
    assert_error(client.post(f"/api/headshots/{job}/retry", headers=auth(user_id)), 409,
                 "original_expired")
    assert me(client, user_id)["credits"] == 2


def test_retry_without_credits_is_402(client: Any) -> None:
    user_id, job = _failed_job(client, credits=1)
    spend = generate(client, user_id, uploaded_url(client, user_id))  # the refunded credit
    assert spend.status_code == 202 and me(client, user_id)["credits"] == 0
    assert_error(client.post(f"/api/headshots/{job}/retry", headers=auth(user_id)), 402,
                 "insufficient_credits")
    item = client.get(f"/api/headshots/history/{job}", headers=auth(user_id)).get_json()
    assert item["status"] == "failed" and item["retryCount"] == 0


def test_retry_of_someone_elses_job_is_404(client: Any) -> None:
    _, job = _failed_job(client)
    assert_error(client.post(f"/api/headshots/{job}/retry", headers=auth(new_user_id())), 404)


def test_same_key_same_body_returns_the_first_job_without_a_second_charge(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 5)
    url = uploaded_url(client, user_id)
    first = generate(client, user_id, url, **{"Idempotency-Key": "k-1"})
    again = generate(client, user_id, url, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert me(client, user_id)["credits"] == 4
    other = generate(client, user_id, url, style="creative", **{"Idempotency-Key": "k-1"})
    assert_error(other, 409, "idempotency_key_reused")
    fresh = generate(client, user_id, url, **{"Idempotency-Key": "k-2"})
    assert fresh.get_json()["id"] != first.get_json()["id"]
    assert me(client, user_id)["credits"] == 3
    # Keys belong to their user: the same key from someone else is theirs alone.
    stranger = new_user_id()
    grant(client, stranger, 1)
    theirs = generate(client, stranger, uploaded_url(client, stranger),
                      **{"Idempotency-Key": "k-1"})
    assert theirs.status_code == 202 and theirs.get_json()["id"] != first.get_json()["id"]


def test_a_failed_request_does_not_use_up_its_key(client: Any) -> None:
    user_id = new_user_id()
    url = uploaded_url(client, user_id)
    assert_error(generate(client, user_id, url, **{"Idempotency-Key": "k"}), 402)
    grant(client, user_id, 1)
    assert generate(client, user_id, url, **{"Idempotency-Key": "k"}).status_code == 202


@pytest.mark.parametrize("key", ["", " ", "ключ", "x" * 256])
def test_malformed_keys_are_400(client: Any, key: str) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    response = client.post("/api/headshots/generate",
                           headers={**auth(user_id), "Idempotency-Key": key},
                           json={"imageUrl": uploaded_url(client, user_id), "style": "corporate"})
    assert_error(response, 400)
    assert me(client, user_id)["credits"] == 1


def test_write_routes_are_rate_limited_per_user(client: Any) -> None:
    user_id = new_user_id()
    url = uploaded_url(client, user_id)  # one write of the user's budget of 30
    statuses = [generate(client, user_id, url).status_code for _ in range(29)]
    assert set(statuses) == {402}  # no credits: refused, but counted
    limited = generate(client, user_id, url)
    body = assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert body["error"]["message"]
    # Another user is not affected, and status polling has its own, larger budget.
    other = new_user_id()
    assert generate(client, other, uploaded_url(client, other)).status_code == 402


def test_status_polling_has_a_budget_far_above_one_poll_a_second(client: Any) -> None:
    from config import get_settings

    user_id = new_user_id()
    grant(client, user_id, 1)
    job = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    limit = get_settings().rate_limit_status_per_minute
    assert limit >= 5 * 60  # five jobs polled every second, with room to spare
    start_minute = int(time.time() // 60)
    statuses = [client.get(f"/api/headshots/status/{job}", headers=auth(user_id)).status_code
                for _ in range(limit + 1)]
    if int(time.time() // 60) != start_minute:
        pytest.skip("the clock minute turned during the burst; the count started over")
    assert statuses[:limit] == [200] * limit
    limited = client.get(f"/api/headshots/status/{job}", headers=auth(user_id))
    assert_error(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
