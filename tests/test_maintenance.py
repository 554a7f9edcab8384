"""The scheduled jobs: the stuck-job reaper and the deletion of expired originals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from media import get_storage
from models.clock import utcnow
from models.generations import HeadshotGeneration
from models.uploads import Upload
from services.unit_of_work import unit_of_work
from tests.api_calls import grant, me, uploaded_url
from tests.conftest import auth, new_user_id
from tests.processes import wait_until
from workers.maintenance import delete_expired_originals, reap_stuck_jobs

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _job_without_a_message(client: Any, user_id: int, **state: Any) -> int:
    """A charged job whose task message never reached (or was lost by) the broker."""
    from media import get_signer
    from models.jobs import create_generation
    from models.styles import get_active_style
    from models.uploads import find_usable_upload

    key = get_signer().storage_key_from_url(uploaded_url(client, user_id))
    assert key is not None
    with unit_of_work() as db_session:
        generation = create_generation(
            db_session, user_id=user_id,
            upload=find_usable_upload(db_session, user_id=user_id, storage_key=key),
            style=get_active_style(db_session, "corporate"), aspect_ratio="1:1")
        db_session.flush()
        db_session.execute(update(HeadshotGeneration)
                           .where(HeadshotGeneration.id == generation.id)
                           .values(deadline_at=utcnow() - timedelta(seconds=1), **state))
        db_session.commit()
    return generation.id


def _status(client: Any, user_id: int, job: int) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/headshots/history/{job}",
                                      headers=auth(user_id)).get_json()
    return body


@pytest.mark.usefixtures("worker", "fake_getimg")
@pytest.mark.parametrize("state", [{}, {"status": "processing", "attempts": 1}],
                         ids=["lost message", "dead worker"])
def test_the_reaper_requeues_overdue_jobs_and_they_complete(client: Any,
                                                            state: dict[str, Any]) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    job = _job_without_a_message(client, user_id, **state)
    outcome = reap_stuck_jobs()
    assert outcome["requeued"] >= 1
    wait_until(lambda: _status(client, user_id, job)["status"] == "completed", timeout=60,
               message="the reaped job to complete")
    assert _status(client, user_id, job)["metadata"]["attempts"] == 1 + state.get("attempts", 0)
    assert me(client, user_id)["credits"] == 0


def test_the_reaper_fails_and_refunds_a_job_out_of_attempts(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    job = _job_without_a_message(client, user_id, status="processing", attempts=3)
    assert reap_stuck_jobs()["failed"] >= 1
    item = _status(client, user_id, job)
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
