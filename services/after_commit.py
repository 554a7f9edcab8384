"""What follows a committed change of a job: the after-commit half of the one path.

The domain records each change inside its transaction (`models/job/changes.py`); once that
transaction has committed, the unit of work calls `handle_committed` with the changes in the
order they were made. Nothing here may raise: the change is already the truth in PostgreSQL,
and every reader falls back to it (the status cache is refilled from the database on a miss).

The metrics count each change here, once, in the process that committed it; the credits the
transaction moved are counted by `ledger_committed`, beside it. A webhook whose delivery cannot be
enqueued now is found by its sweeper (`workers/webhooks.py`, `workers/push/tasks.py`) within a
minute. A cancel is also told to the workers (`services/cancel_notices.py`), so the one calling
GetImg for it stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from models.credits import Movement
from models.job.changes import Change, JobChange
from services.cancel_notices import publish_cancelled
from services.metrics import count_job_change, count_movements
from services.queue import BROKER_FAULTS, enqueue_push, enqueue_webhook
from services.status_cache import get_status_cache

log = logging.getLogger(__name__)


def handle_committed(changes: Sequence[JobChange]) -> None:
    if not changes:
        return
    cache = get_status_cache()
    # Published in one round trip, in their order (a batch's queued jobs: one, not four), with
    # the completed jobs' processing times for the expected-wait average. A job deleted in the
    # same transaction is forgotten below, after: its tombstone is newer than any snapshot, so
    # nothing published can bring it back.
    cache.publish_all([job_change.snapshot for job_change in changes
                       if job_change.change is not Change.DELETED],
                      processing_seconds={job_change.snapshot.id: job_change.processing_seconds
                                          for job_change in changes
                                          if job_change.processing_seconds is not None})
    publish_cancelled([job_change.snapshot.id for job_change in changes
                       if job_change.change is Change.CANCELLED])
    for job_change in changes:
        _log_change(job_change)
        _quietly(count_job_change, job_change)
        if job_change.change is Change.DELETED:
            cache.forget(job_change.snapshot.id)
        for event_id in job_change.outbox_event_ids:
            try:
                enqueue_webhook(event_id)
            except BROKER_FAULTS:
                log.warning("webhook event %s: not enqueued; the sweeper will", event_id)
        for event_id in job_change.push_event_ids:
            try:
                enqueue_push(event_id)
            except BROKER_FAULTS:
                log.warning("push event %s: not enqueued; the sweeper will", event_id)


def _log_change(job_change: JobChange) -> None:
    # One line per committed change, in the process that made it (the request id, when bound,
    # ties it to the request that started the job: config/logs.py).
    snapshot = job_change.snapshot
    log.info("headshot %s %s", snapshot.id, job_change.change, extra={
        "generation_id": snapshot.id, "change": str(job_change.change),
        "status": snapshot.status, "progress": snapshot.progress, "style": job_change.style,
        "user_id": snapshot.user_id, "error_code": snapshot.error_code,
    })


def ledger_committed(movements: Sequence[Movement]) -> None:
    """The credit movements of a committed transaction, in order."""
    _quietly(count_movements, movements)


def _quietly(count: Callable[[Any], None], argument: Any) -> None:
    # A metric is never worth an exception after the commit (a full disk under the multiprocess
    # files, a bug): log it and go on.
    try:
        count(argument)
    except Exception:
        log.exception("metrics: could not count %r", argument)
