"""The stuck-job reaper requeues an overdue job, and a real worker then completes it."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.waiting import wait_until
from services.maintenance import republish_if_queue_lost
from tests.support.api_calls import grant, history_item, me, uploaded_url
from tests.support.domain import job_without_a_message
from tests.support.users import new_user_id
from workers.maintenance import reap_stuck_jobs

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


@pytest.mark.usefixtures("worker", "fake_getimg")
@pytest.mark.parametrize("state", [{}, {"status": "processing", "attempts": 1}],
                         ids=["lost message", "dead worker"])
def test_the_reaper_requeues_overdue_jobs_and_they_complete(client: Any,
                                                            state: dict[str, Any]) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    # The sweep's first look at this run's Redis finds no mark and republishes every queued
    # job, this one too: a worker could then claim it before the sweep reaches it as overdue.
    # That path is test_job_leases.py's; here the queue is known complete.
    republish_if_queue_lost()
    job = job_without_a_message(user_id, uploaded_url(client, user_id), **state)
    outcome = reap_stuck_jobs()
    assert outcome["requeued"] >= 1
    wait_until(lambda: history_item(client, user_id, job)["status"] == "completed", timeout=60,
               message="the reaped job to complete")
    assert history_item(client, user_id, job)["metadata"]["attempts"] == \
        1 + state.get("attempts", 0)
    assert me(client, user_id)["credits"] == 0
