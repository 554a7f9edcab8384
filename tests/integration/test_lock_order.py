"""The row-lock order of the write paths: a job's row before its owner's (models/credits.py
says why), so two transactions racing over the same job and user wait for each other instead
of deadlocking (PostgreSQL would abort one of them after `deadlock_timeout`: a 503 for a user,
a rolled-back ending for a worker).

Each test interleaves two real transactions on the test database deterministically: the
first holds the job's row as its first statement would, the second path is started in a thread
and seen waiting for that row (pg_stat_activity), then the first goes on to take the user's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from devstack.waiting import wait_until
from media.storage import new_key
from models.credits import CreditEntry, EntryType
from models.idempotency import IdempotentRequest
from models.job.attempts import claim_job, complete_job
from models.job.endings import fail_job
from models.job.table import Job, JobStatus
from models.uploads import Upload, record_upload
from services import accounts, library
from services.submissions import resubmit_job
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, new_job

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

# What the worker's failing UPDATE takes on the job's row (an UPDATE of non-key columns).
_HOLD_JOB_AS_AN_UPDATE = text(
    "SELECT 1 FROM headshot_generations WHERE id = :id FOR NO KEY UPDATE")
# What a user's cancel, retry or delete takes on the job's row first (models/job/endings.py,
# models/job/deletion.py).
_HOLD_JOB_FOR_UPDATE = text("SELECT 1 FROM headshot_generations WHERE id = :id FOR UPDATE")
# What generate's statement takes on the upload's row before it charges (models/job/creation.py).
_SHARE_UPLOAD = text("SELECT 1 FROM uploads WHERE id = :id FOR SHARE")
# What a balance movement takes on the user's row (an UPDATE of non-key columns); moves nothing.
_LOCK_USER_AS_A_CHARGE = text("UPDATE users SET credits = credits WHERE id = :id")
_WAITING_FOR_A_ROW = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")


class _InThread:
    """Runs `call` in a thread; keeps what it returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: Exception | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        except Exception as error:  # handed to the test's assertions
            self.error = error

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the racing path never finished"


def _someone_waits_for_a_row() -> bool:
    with unit_of_work() as db_session:
        return bool(db_session.execute(_WAITING_FOR_A_ROW).scalar_one())


def _processing_job(user_id: int) -> tuple[int, int]:
    """A charged job of the user, claimed by a worker's attempt: (job id, attempt)."""
    with unit_of_work() as db_session:
        job_id = new_job(db_session, user_id).id
        db_session.commit()
        claimed = claim_job(db_session, job_id)
        assert claimed is not None
        db_session.commit()
        return job_id, claimed.attempts


def _ledger(db_session: Session, job_id: int) -> list[tuple[str, int, int | None]]:
    return [(entry.type, entry.amount, entry.generation_round) for entry in db_session.scalars(
        select(CreditEntry).where(CreditEntry.generation_id == job_id).order_by(CreditEntry.id))]


@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
def test_a_retry_racing_the_workers_failure_of_the_job_waits_instead_of_deadlocking(
        with_key: bool) -> None:
    user_id = funded_user(credits=2)
    job_id, attempt = _processing_job(user_id)
    key = IdempotentRequest.of(f"retry-{job_id}", operation="retry", body={"id": job_id}) \
        if with_key else None

    with unit_of_work() as worker:
        worker.execute(_HOLD_JOB_AS_AN_UPDATE, {"id": job_id})
        # The user's retry (with the email of their token, which it keeps current) starts now
        # and must wait for the job's row, holding nothing the worker needs next.
        retry = _InThread(lambda: resubmit_job(
            user_id=user_id, email=f"user{user_id}@example.com", job_id=job_id,
            idempotency=key).id)
        wait_until(_someone_waits_for_a_row, timeout=10, message="the retry to wait for the job")
        # The worker's failure: the job's row (held), then the user's for the refund.
        failed = fail_job(worker, job_id, code="getimg_rejected", message="refused",
                                 attempt=attempt)
        assert failed is not None
        worker.commit()
    retry.join()

    # Both went through, one after the other: failed and refunded once, then retried (a new
    # round, charged once).
    assert retry.error is None, repr(retry.error)
    assert retry.result == job_id
    with unit_of_work() as db_session:
        job = db_session.get(Job, job_id)
        assert job is not None
        assert (job.status, job.retry_count) == (JobStatus.QUEUED, 1)
        assert _ledger(db_session, job_id) == [
            (EntryType.HEADSHOT, -1, 0), (EntryType.REFUND, 1, 0), (EntryType.HEADSHOT, -1, 1)]


def test_an_operators_refund_takes_the_jobs_row_before_the_users() -> None:
    user_id = funded_user(credits=2)
    job_id, attempt = _processing_job(user_id)
    with unit_of_work() as db_session:
        assert complete_job(db_session, job_id, attempt=attempt, result_keys=["r.jpg"],
                                   thumbnail_key="t.jpg", metadata={}) is not None
        db_session.commit()

    # Another transaction keeping the order (a user's cancel, say): the job's row, then the user's.
    with unit_of_work() as first:
        first.execute(_HOLD_JOB_FOR_UPDATE, {"id": job_id})
        refund = _InThread(lambda: accounts.refund(operator_id=1, job_id=job_id,
                                                   reason="blurry").amount)
        wait_until(_someone_waits_for_a_row, timeout=10, message="the refund to wait")
        first.execute(_LOCK_USER_AS_A_CHARGE, {"id": user_id})
        first.commit()
    refund.join()

    assert refund.error is None, repr(refund.error)
    assert refund.result == 1
    with unit_of_work() as db_session:
        assert _ledger(db_session, job_id) == [(EntryType.HEADSHOT, -1, 0),
                                               (EntryType.REFUND, 1, 0)]


def test_delete_my_data_locks_every_upload_before_it_refunds_a_running_job() -> None:
    user_id = funded_user(credits=2)
    job_id, _ = _processing_job(user_id)  # cancelled and refunded by the delete: the user's row
    with unit_of_work() as db_session:
        other = record_upload(db_session, user_id=user_id,
                              storage_key=new_key("originals", user_id, "jpg"),
                              content_type="image/jpeg", size_bytes=1, width=64, height=64)
        db_session.commit()
        other_upload = other.id

    # A generate from the user's other upload: its statement shares the upload's row, then
    # charges the user.
    with unit_of_work() as generate:
        generate.execute(_SHARE_UPLOAD, {"id": other_upload})
        delete = _InThread(lambda: library.delete_my_data(user_id=user_id))
        wait_until(_someone_waits_for_a_row, timeout=10, message="the delete to wait")
        generate.execute(_LOCK_USER_AS_A_CHARGE, {"id": user_id})
        generate.commit()
    delete.join()

    assert delete.error is None, repr(delete.error)
    with unit_of_work() as db_session:
        job = db_session.get(Job, job_id)
        assert job is not None
        assert job.deleted_at is not None and job.error_code == "cancelled"
        assert _ledger(db_session, job_id) == [(EntryType.HEADSHOT, -1, 0),
                                               (EntryType.REFUND, 1, 0)]
        uploads_deleted_at = db_session.scalars(
            select(Upload.deleted_at).where(Upload.user_id == user_id)).all()
        assert len(uploads_deleted_at) == 2 and None not in uploads_deleted_at
