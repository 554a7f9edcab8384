"""The scheduled jobs: the stuck-job reaper and the deletion of expired originals (a reaped job
that a real worker then completes: tests/e2e/test_reaper.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from media import get_storage
from models.clock import utcnow
from models.uploads import Upload
from services.unit_of_work import unit_of_work
from tests.support.api_calls import grant, history_item, me, uploaded_url
from tests.support.domain import job_without_a_message
from tests.support.users import auth, new_user_id
from workers.maintenance import delete_expired_originals, reap_stuck_jobs

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def test_the_reaper_fails_and_refunds_a_job_out_of_attempts(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    job = job_without_a_message(user_id, uploaded_url(client, user_id), status="processing",
                                attempts=3)
    assert reap_stuck_jobs()["failed"] >= 1
    item = history_item(client, user_id, job)
    assert item["status"] == "failed" and item["error"]["code"] == "timed_out"
    assert me(client, user_id)["credits"] == 1
    reap_stuck_jobs()
    assert me(client, user_id)["credits"] == 1  # never refunded twice


def test_expired_originals_are_deleted(client: Any) -> None:
    user_id = new_user_id()
    url = uploaded_url(client, user_id)
    from media import get_signer

    key = get_signer().storage_key_from_url(url)
    assert key is not None and get_storage().exists(key)
    with unit_of_work() as db_session:
        db_session.execute(update(Upload).where(Upload.storage_key == key)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db_session.commit()
    assert delete_expired_originals() >= 1
    assert not get_storage().exists(key)
    response = client.post("/api/headshots/generate", headers=auth(user_id),
                           json={"imageUrl": url, "style": "corporate"})
    # One answer wherever an expired original is asked for: generate and retry alike.
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "original_expired"
    assert delete_expired_originals() == 0  # nothing left to do
