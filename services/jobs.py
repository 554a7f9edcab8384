"""The steps of one attempt at a job, as the worker takes them: each its own transaction.

Each step commits its state change before the worker's next slow step starts; the after-commit
path publishes it. A step that finds the job no longer this attempt's (taken over, finished,
deleted) changes nothing and says so by returning None or False.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.getimg_calls import CallRow
from models.job import JobStatus, claim_job, complete_job, fail_job, give_attempt_back, requeue_job
from models.job.attempts import is_claimable
from models.job.leases import renew_leases
from services.getimg_calls import record_call_in
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    """What an attempt needs to know, copied out of the session that claimed the job."""

    id: int
    user_id: int
    attempt: int  # names this attempt for good (they count up across rounds)
    attempt_in_round: int  # 1 for the first attempt of a round
    aspect_ratio: str
    original_key: str | None  # None once the original is gone
    original_content_type: str
    model: str
    prompt: str
    style: str
    claimed_at: datetime  # the database's clock, like round_asked_at
    round_asked_at: datetime  # this round's request (or retry): where its queue time starts


def claimable(job_id: int) -> bool:
    """Whether a new attempt could take the job now (queued, or its attempt's lease is gone)."""
    with unit_of_work() as db_session:
        return is_claimable(db_session, job_id)


def renew(held: list[Claimed]) -> set[int]:
    """Renew these attempts' leases; the ids of the jobs still theirs."""
    with unit_of_work() as db_session:
        renewed = renew_leases(db_session, [(job.id, job.attempt) for job in held])
        db_session.commit()
    return renewed


def claim(job_id: int) -> Claimed | None:
    """Take the job for a new attempt; None if it is not claimable (done, taken, deleted)."""
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, job_id)
        db_session.commit()
    if claimed is None:
        return None
    return Claimed(
        id=claimed.id,
        user_id=claimed.user_id,
        attempt=claimed.attempts,
        attempt_in_round=claimed.attempts_this_round,
        aspect_ratio=claimed.aspect_ratio,
        original_key=claimed.original_key,
        original_content_type=claimed.original_content_type,
        model=claimed.model,
        prompt=claimed.prompt,
        style=claimed.style,
        claimed_at=claimed.progress_at,
        round_asked_at=claimed.round_asked_at,
    )


def fail(job: Claimed, code: str, message: str, metadata: dict[str, Any]) -> None:
    """Fail the job and refund it, if it is still this attempt's."""
    with unit_of_work() as db_session:
        fail_job(db_session, job.id, code=code, message=message,
                        metadata=metadata, attempt=job.attempt)
        db_session.commit()
    log.info("job %s failed: %s", job.id, code)


def requeue(job: Claimed, *, retry_in_seconds: float, code: str, message: str) -> bool:
    """Back to the queue for a later attempt; False if it was no longer this attempt's."""
    with unit_of_work() as db_session:
        requeued = requeue_job(
            db_session, job.id, attempt=job.attempt,
            retry_in_seconds=retry_in_seconds, code=code, message=message,
        )
        db_session.commit()
    return requeued is not None


def give_back(job: Claimed, *, retry_in_seconds: float, code: str, message: str) -> bool:
    """Back to the queue without spending the attempt (not the job's fault: a worker stopping,
    GetImg's 429; `models/job/attempts.give_attempt_back`); False if it is not queued now: no
    longer this attempt's, or past its round's time budget, so failed and refunded."""
    with unit_of_work() as db_session:
        moved = give_attempt_back(
            db_session, job.id, attempt=job.attempt,
            retry_in_seconds=retry_in_seconds, code=code, message=message,
        )
        db_session.commit()
    if moved is not None and moved.status == JobStatus.FAILED.value:
        log.info("job %s failed: %s (past its round's time budget)", job.id, code)
    return moved is not None and moved.status == JobStatus.QUEUED.value


def complete(job: Claimed, *, result_keys: list[str], thumbnail_key: str,
             metadata: dict[str, Any], result_sizes: list[tuple[int, int]] | None = None,
             thumbnail_size: tuple[int, int] | None = None, call: CallRow | None = None,
             before_key: str | None = None, before_size: tuple[int, int] | None = None
             ) -> bool:
    """Record the results and their sizes in pixels; False if the job was deleted or taken
    over meanwhile (the caller's files then belong to nobody). `call`: the GetImg call that made
    them, for the call ledger, in the same transaction (kept whether the job moved or not: the
    call was made)."""
    with unit_of_work() as db_session:
        if call is not None:
            record_call_in(db_session, call)
        completed = complete_job(
            db_session, job.id, attempt=job.attempt, result_keys=result_keys,
            thumbnail_key=thumbnail_key, metadata=metadata, result_sizes=result_sizes,
            thumbnail_size=thumbnail_size, before_key=before_key, before_size=before_size,
        )
        db_session.commit()
    return completed is not None
