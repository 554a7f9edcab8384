"""The budget of refunded cancels of processing jobs (services/cancel_budget.py): within it a
cancel ends the job failed (`cancelled`) and refunded; past it the cancel, and the delete of a
processing job, is a 429 with Retry-After that changes nothing; queued jobs are never counted."""

from __future__ import annotations

from typing import Any

import pytest
from limits import parse_many

from config import get_settings
from models.clock import utcnow
from tests.support.api_calls import grant, history_item, me, uploaded_url
from tests.support.domain import job_row, job_without_a_message
from tests.support.ledger import ledger_of_job
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _hourly_budget() -> int:
    """The budget's tightest part, as configured (3 an hour unless told)."""
    return min(item.amount for item in parse_many(get_settings().rate_limit_processing_cancels))


def _job(client: Any, user_id: int, image_url: str, status: str) -> int:
    """A charged job in `status`, with no task message: no worker touches it (and no reaper
    runs here)."""
    state: dict[str, Any] = {"status": status}
    if status == "processing":
        state |= {"attempts": 1, "started_at": utcnow()}
    return job_without_a_message(user_id, image_url, **state)


def _cancel(client: Any, user_id: int, generation_id: int) -> Any:
    return client.post(f"/api/headshots/{generation_id}/cancel", headers=auth(user_id))


def test_past_the_budget_a_processing_job_cannot_be_cancelled_or_deleted(client: Any) -> None:
    budget = _hourly_budget()
    user_id = new_user_id()
    grant(client, user_id, budget + 2)
    image_url = uploaded_url(client, user_id)

    for _ in range(budget):
        job = _job(client, user_id, image_url, "processing")
        answer = _cancel(client, user_id, job)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert (body["status"], body["error"]["code"]) == ("failed", "cancelled"), body
        assert ledger_of_job(job) == [-1, 1]  # charged, refunded once

    running = _job(client, user_id, image_url, "processing")
    balance = me(client, user_id)["credits"]
    refused = _cancel(client, user_id, running)
    assert refused.status_code == 429, refused.get_json()
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "processing" in refused.get_json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    deleted = client.delete(f"/api/headshots/history/{running}", headers=auth(user_id))
    assert deleted.status_code == 429, deleted.get_json()
    assert 1 <= int(deleted.headers["Retry-After"]) <= 3600
    # Nothing changed: still processing, still charged, still in the history.
    assert job_row(running).status == "processing"
    assert history_item(client, user_id, running)["status"] == "processing"
    assert ledger_of_job(running) == [-1]
    assert me(client, user_id)["credits"] == balance

    # A queued job has cost nothing yet: its cancel is neither counted nor refused.
    queued = _job(client, user_id, image_url, "queued")
    answer = _cancel(client, user_id, queued)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["error"]["code"] == "cancelled"
    assert ledger_of_job(queued) == [-1, 1]


def test_the_budget_is_each_users_own(client: Any) -> None:
    budget = _hourly_budget()
    spender, other = new_user_id(), new_user_id()
    grant(client, spender, budget + 1)
    grant(client, other, 1)
    image_url = uploaded_url(client, spender)
    for _ in range(budget):
        assert _cancel(client, spender, _job(client, spender, image_url, "processing")
                       ).status_code == 200
    assert _cancel(client, spender, _job(client, spender, image_url, "processing")
                   ).status_code == 429

    theirs = _job(client, other, uploaded_url(client, other), "processing")
    answer = _cancel(client, other, theirs)
    assert answer.status_code == 200, answer.get_json()
    assert ledger_of_job(theirs) == [-1, 1]


def test_a_cancel_of_somebody_elses_job_is_not_found_and_spends_nothing(client: Any) -> None:
    owner, stranger = new_user_id(), new_user_id()
    grant(client, owner, 1)
    job = _job(client, owner, uploaded_url(client, owner), "processing")
    for _ in range(_hourly_budget() + 1):
        assert _cancel(client, stranger, job).status_code == 404
    assert job_row(job).status == "processing"
    answer = _cancel(client, owner, job)
    assert answer.status_code == 200, answer.get_json()
