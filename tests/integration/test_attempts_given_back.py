"""Attempts that do not count (models/job/attempts.py `give_attempt_back`): a job handed back by a
stopping worker, or put back after GetImg's 429, keeps its attempts this round; the attempt
number still grows, so every fence stays exact; and the round's time budget ends a job that
keeps being given back, failed and refunded once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from config import get_settings
from models.clock import frozen_clock
from models.job.attempts import round_time_budget_seconds
from models.job.endings import TIMED_OUT
from services import jobs
from services.jobs import Claimed
from tests.support.api_calls import me
from tests.support.domain import job_row, queued_job
from workers.leases import HANDED_BACK, LeaseKeeper

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _claim(generation_id: int) -> Claimed:
    claimed = jobs.claim(generation_id)
    assert claimed is not None
    return claimed


def test_a_job_handed_back_more_times_than_its_attempts_is_still_queued(client: Any) -> None:
    user_id, job = queued_job()
    keeper = LeaseKeeper()
    hand_backs = get_settings().getimg_max_attempts + 2
    for hand_back in range(1, hand_backs + 1):
        claimed = _claim(job)
        # Every claim is a new attempt number (the fence), yet the first of this round.
        assert claimed.attempt == hand_back and claimed.attempt_in_round == 1
        keeper.hold_job(claimed)
        assert keeper.hand_back_all() == 1
        row = job_row(job)
        assert row.status == "queued" and row.lease_expires_at is None
        assert row.attempts == hand_back and row.attempts_this_round == 0
        assert row.meta["lastError"]["code"] == HANDED_BACK
        assert me(client, user_id)["credits"] == 0  # still charged: nothing failed
    # ... and a real attempt after them all still has the round's every attempt.
    claimed = _claim(job)
    assert claimed.attempt_in_round == 1
    assert jobs.complete(claimed, result_keys=["r"], thumbnail_key="t", metadata={})
    assert me(client, user_id)["credits"] == 0


def test_a_rate_limited_requeue_does_not_spend_the_attempt(client: Any) -> None:
    user_id, job = queued_job()
    attempts = get_settings().getimg_max_attempts
    for _ in range(attempts + 1):
        assert jobs.give_back(_claim(job), retry_in_seconds=0, code="getimg_rate_limited",
                              message="busy")
    assert job_row(job).attempts_this_round == 0
    # The faults that do count still end it after the round's attempts.
    for attempt in range(1, attempts + 1):
        claimed = _claim(job)
        assert claimed.attempt_in_round == attempt
        if attempt < attempts:
            assert jobs.requeue(claimed, retry_in_seconds=0, code="getimg_unavailable",
                                message="down")
        else:
            jobs.fail(claimed, "getimg_unavailable", "down; refunded", {})
    assert job_row(job).status == "failed"
    assert me(client, user_id)["credits"] == 1


def test_a_stale_attempt_cannot_give_its_attempt_back(client: Any) -> None:
    _, job = queued_job()
    first = _claim(job)
    assert jobs.give_back(first, retry_in_seconds=0, code=HANDED_BACK, message="restart")
    second = _claim(job)
    assert not jobs.give_back(first, retry_in_seconds=0, code=HANDED_BACK, message="restart")
    row = job_row(job)
    assert row.status == "processing" and row.attempts == second.attempt
    assert row.attempts_this_round == 1


def _hand_back(claimed: Claimed) -> bool:
    keeper = LeaseKeeper()
    keeper.hold_job(claimed)
    return keeper.hand_back_all() == 1


def _rate_limited(claimed: Claimed) -> bool:
    return jobs.give_back(claimed, retry_in_seconds=1, code="getimg_rate_limited",
                          message="busy")


@pytest.mark.parametrize("give_back", [_hand_back, _rate_limited],
                         ids=["handed_back", "rate_limited"])
def test_a_job_given_back_past_its_round_budget_ends_failed_and_refunded_once(
        client: Any, give_back: Callable[[Claimed], bool]) -> None:
    user_id, job = queued_job()
    with frozen_clock(datetime.now(UTC)) as clock:
        assert give_back(_claim(job))  # the round starts with its first claim
        clock.advance(seconds=round_time_budget_seconds() - 1)
        assert give_back(_claim(job))  # still within the budget: free
        assert job_row(job).attempts_this_round == 0
        clock.advance(seconds=2)
        late = _claim(job)
        # Past it: however many attempts it has left, it ends now, refunded.
        assert not give_back(late)
        row = job_row(job)
        assert row.status == "failed" and row.error_code == TIMED_OUT
        assert me(client, user_id)["credits"] == 1
        # Another give-back of that attempt (a 429 racing the hand-back) changes nothing.
        assert not _rate_limited(late)
        assert not _hand_back(late)
        assert jobs.claim(job) is None
    assert me(client, user_id)["credits"] == 1
