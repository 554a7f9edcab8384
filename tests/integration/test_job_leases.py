"""A running attempt's lease on its job (models/job/leases.py, models/job/attempts.py): renewed
while the attempt works, taken over by the reaper once it runs out, and fenced by the attempt
number so the attempt that lost it can never finish, fail or refund the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from config import get_settings
from models.clock import frozen_clock
from models.job.attempts import claim_job, complete_job, is_claimable
from models.job.endings import fail_job
from models.job.leases import renew_leases
from models.job.reaper import overdue_job_ids, release_overdue_job
from models.job.table import JobRow
from services import jobs
from services.maintenance import BROKER_MARK_KEY, republish_if_queue_lost
from services.redis_client import get_redis
from services.unit_of_work import unit_of_work
from tests.support.api_calls import me
from tests.support.domain import job_row, queued_job

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _claim(generation_id: int, owner: str = "host-a:1") -> JobRow | None:
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, generation_id, lease_owner=owner)
        db_session.commit()
        return claimed


def _renew(generation_id: int, attempt: int) -> set[int]:
    with unit_of_work() as db_session:
        renewed = renew_leases(db_session, [(generation_id, attempt)])
        db_session.commit()
    return renewed


def _overdue(generation_id: int) -> bool:
    with unit_of_work() as db_session:
        return generation_id in overdue_job_ids(db_session, limit=100000)


def _lease_ages(generation_id: int, *, seconds: float) -> None:
    """As if `seconds` went by since the job's lease was taken or last renewed: a lease runs
    by the database's clock (models/job/leases.py), which the domain's frozen clock does not
    move."""
    with unit_of_work() as db_session:
        db_session.execute(_AGE_LEASE, {"id": generation_id, "seconds": seconds})
        db_session.commit()


_AGE_LEASE = text("UPDATE headshot_generations "
                  "SET lease_expires_at = lease_expires_at - make_interval(secs => :seconds) "
                  "WHERE id = :id")


def _database_now() -> datetime:
    with unit_of_work() as db_session:
        now: datetime = db_session.execute(select(func.now())).scalar_one()
        return now


def _reap(generation_id: int) -> JobRow | None:
    with unit_of_work() as db_session:
        released = release_overdue_job(db_session, generation_id)
        db_session.commit()
        return released


def _lease_left(generation_id: int) -> float:
    expires_at = job_row(generation_id).lease_expires_at
    assert expires_at is not None
    return (expires_at - _database_now()).total_seconds()


def test_the_claim_takes_the_lease_and_renewal_extends_it(client: Any) -> None:
    lease = get_settings().job_lease_seconds
    _, job = queued_job()
    claimed = _claim(job, owner="worker1@host:42")
    assert claimed is not None
    assert job_row(job).lease_owner == "worker1@host:42"
    assert _lease_left(job) == pytest.approx(lease, abs=5)  # abs: the test's own statements

    _lease_ages(job, seconds=lease * 0.8)
    assert _lease_left(job) < lease * 0.5
    assert _renew(job, claimed.attempts) == {job}
    assert _lease_left(job) == pytest.approx(lease, abs=5)
    _lease_ages(job, seconds=lease * 0.8)  # past the first lease, inside the renewed one
    assert not _overdue(job)
    with unit_of_work() as db_session:
        assert not is_claimable(db_session, job)


def test_an_expired_lease_is_taken_over_long_before_the_processing_timeout(client: Any
                                                                          ) -> None:
    settings = get_settings()
    assert settings.job_lease_seconds < settings.job_processing_timeout_seconds
    user_id, job = queued_job()
    dead = _claim(job)
    assert dead is not None
    _lease_ages(job, seconds=settings.job_lease_seconds + 1)  # its worker stopped renewing
    assert _overdue(job)

    released = _reap(job)
    assert released is not None and released.status == "queued"
    assert released.lease_expires_at is None and released.lease_owner is None
    taker = _claim(job, owner="host-b:2")
    assert taker is not None and taker.attempts == dead.attempts + 1

    # The dead attempt, should it wake up, owns nothing: no renewal, no result, no refund.
    assert _renew(job, dead.attempts) == set()
    with unit_of_work() as db_session:
        assert complete_job(db_session, job, attempt=dead.attempts, result_keys=[],
                                   thumbnail_key="t", metadata={}) is None
        assert fail_job(db_session, job, code="x", message="x",
                               attempt=dead.attempts) is None
        db_session.commit()
    assert _renew(job, taker.attempts) == {job}
    assert me(client, user_id)["credits"] == 0  # charged once, not refunded


def test_leases_run_by_the_databases_clock_not_a_hosts(client: Any) -> None:
    """A worker host whose clock is behind the others' (or a reaper's that is ahead) by more
    than a lease: its live jobs are not taken over."""
    settings = get_settings()
    lease = settings.job_lease_seconds
    assert lease * 4 < settings.job_processing_timeout_seconds  # the deadline is not the test
    _, job = queued_job()
    with frozen_clock(datetime.now(UTC) - timedelta(seconds=lease * 2)):  # the worker's host
        claimed = _claim(job)
        assert claimed is not None
        assert _renew(job, claimed.attempts) == {job}
    assert _lease_left(job) == pytest.approx(lease, abs=5)
    assert not _overdue(job)
    with frozen_clock(datetime.now(UTC) + timedelta(seconds=lease * 2)):  # a reaper's host
        assert not _overdue(job)
        assert _reap(job) is None
        with unit_of_work() as db_session:
            assert not is_claimable(db_session, job)
    assert _renew(job, claimed.attempts) == {job}  # still the attempt's own


def test_a_new_attempt_may_claim_a_job_whose_lease_ran_out(client: Any) -> None:
    """A redelivered message (or the reaper's) takes the job at once, without waiting for a
    sweep: the claim itself accepts an expired lease."""
    _, job = queued_job()
    first = _claim(job)
    assert first is not None
    assert _claim(job) is None  # the lease is alive
    _lease_ages(job, seconds=get_settings().job_lease_seconds + 1)
    second = _claim(job)
    assert second is not None and second.attempts == first.attempts + 1
    assert _renew(job, first.attempts) == set()


def test_out_of_attempts_an_expired_lease_fails_and_refunds_once(client: Any) -> None:
    user_id, job = queued_job()
    released: JobRow | None = None
    for _ in range(get_settings().getimg_max_attempts):
        assert _claim(job) is not None
        _lease_ages(job, seconds=get_settings().job_lease_seconds + 1)
        released = _reap(job)
        assert released is not None
    assert released is not None
    assert released.status == "failed" and released.error_code == "timed_out"
    assert _reap(job) is None
    assert me(client, user_id)["credits"] == 1


def test_the_service_renewal_names_the_jobs_still_held(client: Any) -> None:
    _, kept = queued_job()
    _, lost = queued_job()
    held = [jobs.claim(kept), jobs.claim(lost)]
    assert held[0] is not None and held[1] is not None
    with unit_of_work() as db_session:  # the owner cancels one meanwhile
        from models.job.endings import cancel_in_flight

        assert cancel_in_flight(db_session, lost) is not None
        db_session.commit()
    assert jobs.renew([job for job in held if job is not None]) == {kept}


def test_the_reaper_republishes_the_queue_when_redis_lost_it(client: Any) -> None:
    from services.queue import enqueue_job

    _, job = queued_job()
    enqueue_job(job)  # as the API does; then Redis loses everything
    redis = get_redis()
    redis.delete(BROKER_MARK_KEY, "headshots")
    republished = republish_if_queue_lost()
    assert republished >= 1
    assert redis.llen("headshots") == republished
    assert redis.exists(BROKER_MARK_KEY)
    assert republish_if_queue_lost() == 0  # the queue is whole again: nothing more
    redis.delete("headshots")  # no worker here: leave no messages for the e2e tier


def test_a_stopping_worker_hands_back_a_job_even_on_its_last_attempt(client: Any) -> None:
    from workers.leases import HANDED_BACK, LeaseKeeper

    user_id, job = queued_job()
    keeper = LeaseKeeper()
    attempts = get_settings().getimg_max_attempts
    for attempt in range(1, attempts + 1):  # spend all but the last attempt on real faults
        claimed = jobs.claim(job)
        assert claimed is not None and claimed.attempt_in_round == attempt
        if attempt < attempts:
            assert jobs.requeue(claimed, retry_in_seconds=0, code="getimg_unavailable",
                                message="down")
    assert claimed is not None
    keeper.hold_job(claimed)
    # A restart is not the job's fault: its last attempt is given back, not spent, and it
    # goes back to the queue instead of ending failed.
    assert keeper.hand_back_all() == 1
    row = job_row(job)
    assert row.status == "queued" and row.lease_expires_at is None
    assert row.attempts_this_round == attempts - 1
    assert row.meta["lastError"]["code"] == HANDED_BACK
    assert me(client, user_id)["credits"] == 0
    again = jobs.claim(job)
    assert again is not None and again.attempt_in_round == attempts
