"""The job state machine and the ledger, driven directly through the domain functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from models.clock import FrozenClock, frozen_clock
from models.credits import refund_job_round
from models.errors import NotFound
from models.job import delete_job, retry_job
from models.job.attempts import claim_job, complete_job, requeue_job
from models.job.endings import cancel_in_flight, fail_job
from models.job.progress import PROGRESS_FREEZE_LEAD_SECONDS, PROGRESS_WAITING, displayed_progress
from models.job.table import Job, JobRow, JobStatus
from services.unit_of_work import unit_of_work
from tests.support.api_calls import grant, me
from tests.support.domain import new_job
from tests.support.users import new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
EXPECTED_SECONDS = 2.0  # GETIMG_EXPECTED_SECONDS of the test settings


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    with frozen_clock() as frozen:
        yield frozen


def shown(row: JobRow, now: float) -> int:
    return displayed_progress(row.status, row.progress, row.progress_at.timestamp(), now,
                              expected_seconds=EXPECTED_SECONDS)


def _queued_job(client: Any, credits: int = 1) -> tuple[int, int]:
    """A charged, queued job that no worker hears of (the test drives it by hand)."""
    user_id = new_user_id()
    grant(client, user_id, credits)
    with unit_of_work() as db_session:
        generation = new_job(db_session, user_id)
        db_session.commit()
    return user_id, generation.id


def _claim(generation_id: int) -> JobRow | None:
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, generation_id)
        db_session.commit()
        return claimed


def test_a_job_is_claimed_once(client: Any) -> None:
    _, job = _queued_job(client)
    first = _claim(job)
    assert first is not None and first.status == "processing" and first.attempts == 1
    assert _claim(job) is None


def test_only_the_claiming_attempt_finishes_the_job(client: Any) -> None:
    user_id, job = _queued_job(client)
    claimed = _claim(job)
    assert claimed is not None
    with unit_of_work() as db_session:
        assert complete_job(db_session, job, attempt=claimed.attempts + 1, result_keys=[],
                                   thumbnail_key="t", metadata={}) is None
        assert fail_job(db_session, job, code="x", message="x",
                               attempt=claimed.attempts + 1) is None
        done = complete_job(db_session, job, attempt=claimed.attempts, result_keys=[],
                                   thumbnail_key="thumbnails/1/" + "a" * 32 + ".jpg",
                                   metadata={"getimgCost": 0.03})
        db_session.commit()
    assert done is not None and done.status == "completed" and done.progress == 100
    assert done.meta == {"getimgCost": 0.03}
    with unit_of_work() as db_session:  # a finished job cannot fail (or be refunded) later
        assert fail_job(db_session, job, code="late", message="late") is None
    assert me(client, user_id)["credits"] == 0


def test_failing_refunds_exactly_once(client: Any) -> None:
    user_id, job = _queued_job(client, credits=2)
    for _ in range(2):
        with unit_of_work() as db_session:
            fail_job(db_session, job, code="getimg_unavailable", message="down")
            db_session.commit()
    assert me(client, user_id)["credits"] == 2
    # Even code that skipped the state machine could not refund this round twice.
    with unit_of_work() as db_session, pytest.raises(IntegrityError):
        refund_job_round(db_session, user_id=user_id, cost=1, generation_id=job,
                          generation_round=0, description="again")
    with unit_of_work() as db_session:
        row = db_session.get(Job, job)
        assert row is not None and row.status == JobStatus.FAILED
        assert row.error_code == "getimg_unavailable" and row.completed_at is not None


def _job_waiting_on_getimg(client: Any, clock: FrozenClock, *, elapsed: float = 0.5
                           ) -> tuple[int, JobRow]:
    """A claimed job (the claim stores PROGRESS_WAITING: its attempt calls GetImg at once)
    whose shown progress has had `elapsed` seconds to rise above that milestone."""
    _, job = _queued_job(client)
    claimed = _claim(job)
    assert claimed is not None and claimed.progress == PROGRESS_WAITING
    clock.advance(seconds=elapsed)  # the estimate rises above the stored milestone
    return job, claimed


def test_requeue_keeps_the_progress_the_user_saw(client: Any, clock: FrozenClock) -> None:
    job, claimed = _job_waiting_on_getimg(client, clock)
    seen = shown(claimed, clock.now().timestamp())
    assert seen > PROGRESS_WAITING
    with unit_of_work() as db_session:
        requeued = requeue_job(db_session, job, attempt=claimed.attempts,
                                      retry_in_seconds=1, code="getimg_unavailable", message="x")
        db_session.commit()
    assert requeued is not None and requeued.status == "queued"
    assert requeued.progress >= seen
    assert requeued.meta["lastError"]["code"] == "getimg_unavailable"
    again = _claim(job)
    assert again is not None and again.attempts == 2 and again.progress >= seen


@pytest.mark.parametrize("elapsed", [0.0, 0.25, 1.0, 1.7, 4.0, 9.5, 30.0, 600.0, 1e7])
def test_a_transition_stores_exactly_what_readers_would_show(client: Any, clock: FrozenClock,
                                                              elapsed: float) -> None:
    """The UPDATE computes the estimate in SQL (models/job/_statements.py, progress_from_now):
    it must agree with the readers' `displayed_progress` to the unit, also where exp()
    underflows (1e7 s). A requeue stores it as it stands, with no milestone of its own."""
    job, claimed = _job_waiting_on_getimg(client, clock, elapsed=elapsed)
    with unit_of_work() as db_session:
        again = requeue_job(db_session, job, attempt=claimed.attempts,
                                   retry_in_seconds=1, code="getimg_unavailable", message="x")
        db_session.commit()
    assert again is not None
    # What readers show a moment (the freeze lead) after this transition was written.
    assert again.progress == shown(claimed, clock.now().timestamp() + PROGRESS_FREEZE_LEAD_SECONDS)


def test_a_job_failing_mid_wait_keeps_the_progress_the_user_saw(client: Any, clock: FrozenClock
                                                                ) -> None:
    """Found by tests/chaos: failing used to keep the stored milestone, so the bar fell back
    from the estimate (e.g. 81 -> 78) at the very end; and a transition freezing the estimate
    must not land below what readers show until it is published."""
    job, claimed = _job_waiting_on_getimg(client, clock)
    with unit_of_work() as db_session:
        failed = fail_job(db_session, job, code="getimg_unavailable", message="x",
                                 attempt=claimed.attempts)
        db_session.commit()
    assert failed is not None and failed.status == "failed"
    # Still above anything shown up to a moment after the failure was committed.
    shown_later = shown(claimed, clock.now().timestamp() + 0.2)
    assert shown_later > PROGRESS_WAITING
    assert failed.progress >= shown_later


def test_deleting_a_job_in_flight_cancels_and_refunds_it_first(client: Any) -> None:
    user_id, job = _queued_job(client)
    claimed = _claim(job)
    assert claimed is not None
    with unit_of_work() as db_session:
        delete_job(db_session, user_id=user_id, job_id=job)
        db_session.commit()
    with unit_of_work() as db_session:
        row = db_session.get(Job, job)
        assert row is not None and row.deleted_at is not None
        assert (row.status, row.error_code) == ("failed", "cancelled")
        # the worker still holding the attempt can no longer finish it
        assert complete_job(db_session, job, attempt=claimed.attempts, result_keys=[],
                                   thumbnail_key="t", metadata={}) is None
    assert me(client, user_id)["credits"] == 1
    with unit_of_work() as db_session, pytest.raises(NotFound):  # gone for its owner
        delete_job(db_session, user_id=user_id, job_id=job)


def test_a_cancelled_attempt_cannot_touch_the_retried_round(client: Any) -> None:
    """Found in review: a retry used to reset the attempt count, so the worker still holding
    attempt 1 of a cancelled round could finish the new round's attempt 1."""
    user_id, job = _queued_job(client, credits=2)
    stale = _claim(job)
    assert stale is not None
    with unit_of_work() as db_session:
        assert cancel_in_flight(db_session, job) is not None
        db_session.commit()
    with unit_of_work() as db_session:
        retry_job(db_session, user_id=user_id, job_id=job)
        db_session.commit()
    fresh = _claim(job)
    assert fresh is not None and fresh.attempts != stale.attempts
    assert fresh.attempts_this_round == 1
    with unit_of_work() as db_session:
        assert requeue_job(db_session, job, attempt=stale.attempts, retry_in_seconds=0,
                                  code="late", message="late") is None
        assert complete_job(db_session, job, attempt=stale.attempts, result_keys=[],
                                   thumbnail_key="t", metadata={}) is None
        assert fail_job(db_session, job, code="late", message="late",
                               attempt=stale.attempts) is None
        db_session.commit()
    assert me(client, user_id)["credits"] == 1  # round 0 refunded, round 1 charged, no more
