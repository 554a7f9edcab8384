"""The one path every committed change of a job takes.

The domain calls `record_change` with the job's new state, inside the transaction that makes
the change (every transition of `attempts.py`, `endings.py` and `reaper.py`, creation in
`creation.py`, deletion in `deletion.py`). Whatever must be atomic with the change is written
here, in that transaction: the behaviour events (but a new job's
`headshot_started` and a completed one's `headshot_completed`, which the statements creating
and completing it write), and when a job ends, its batch's end and the outbox rows (the
webhook, and a push to each of the user's devices: `models/devices.py`).
What cannot be (the Redis status publish, the kick to deliver the outbox) is collected on the
session and handed, once the transaction has committed, to the unit of work's after-commit
handler (`services/after_commit.py`). A rolled-back transaction's changes are dropped unseen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from config import get_settings
from models import batches
from models.batches import BatchStatus
from models.devices import add_push_events
from models.events import EventName, record_event
from models.job.snapshot import StatusSnapshot
from models.job.table import Job, JobRow
from models.outbox import EventType, add_event

PENDING = "headshots.job_changes"  # key in Session.info


class Change(enum.StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    REQUEUED = "requeued"
    COMPLETED = "completed"
    FAILED = "failed"  # refunded in the same transaction
    CANCELLED = "cancelled"  # by its owner: failed (code `cancelled`) and refunded
    RETRIED = "retried"  # back in the queue for a new, charged round
    DELETED = "deleted"


JOB_ENDINGS = {
    Change.COMPLETED: EventType.HEADSHOT_COMPLETED,
    Change.FAILED: EventType.HEADSHOT_FAILED,
    Change.CANCELLED: EventType.HEADSHOT_CANCELLED,
}
# The behaviour events the service records itself (API guide §7), with the change. A job's
# `headshot_started` is written by the statement that creates it (creation.py), its
# `headshot_completed` by the statement that completes it (attempts.py): one round
# trip for the change and its event, on the two paths every job takes.
SERVICE_EVENTS = {
    Change.FAILED: EventName.GENERATION_FAILED,
    Change.CANCELLED: EventName.GENERATION_FAILED,  # its `code` property says `cancelled`
}
BATCH_ENDINGS = {
    BatchStatus.COMPLETED: EventType.BATCH_COMPLETED,
    BatchStatus.PARTIAL: EventType.BATCH_PARTIAL,
    BatchStatus.FAILED: EventType.BATCH_FAILED,
}


@dataclass(frozen=True)
class JobChange:
    change: Change
    snapshot: StatusSnapshot
    outbox_event_ids: tuple[int, ...] = ()  # webhooks written with the change, to deliver
    push_event_ids: tuple[int, ...] = ()  # push notifications written with it, to deliver
    style: str | None = None  # the job's style: the metrics' label (not on the snapshot, which
    # is what the app polls)
    processing_seconds: float | None = None  # a completed job's, for the expected-wait average


def record_change(db_session: Session, job: Job | JobRow,
                  change: Change) -> None:
    """Record that `job` just took `change` in this session's transaction (the ORM
    object, or the row a transition read back)."""
    event_ids: list[int] = []
    push_ids: list[int] = []
    if change in SERVICE_EVENTS:
        record_event(db_session, SERVICE_EVENTS[change], user_id=job.user_id,
                     generation_id=job.id, properties=_event_properties(job))
    if change in JOB_ENDINGS:
        event_ids, push_ids = _record_ending(db_session, job, JOB_ENDINGS[change])
    elif change is Change.RETRIED and job.batch_id is not None:
        batches.reopen(db_session, job.batch_id)
    db_session.info.setdefault(PENDING, []).append(
        JobChange(change, StatusSnapshot.of(job), tuple(event_ids), tuple(push_ids), job.style,
                  _processing_seconds(job) if change is Change.COMPLETED else None)
    )


def _processing_seconds(job: Job | JobRow) -> float | None:
    seconds = (job.meta or {}).get("processingTime")
    return float(seconds) if isinstance(seconds, int | float) else None


def _event_properties(job: Job | JobRow) -> dict[str, str]:
    properties = {"style": job.style}
    if job.error_code:
        properties["code"] = job.error_code
    return properties


def _record_ending(db_session: Session, job: Job | JobRow,
                   event: EventType) -> tuple[list[int], list[int]]:
    """The job ended: end its batch if it was the last; the webhooks, if they are on; the
    pushes, if push is on. A job of a batch is pushed only with its batch's end: one
    notification per batch on the phone, not one per style."""
    notify = get_settings().notify_webhook_url is not None
    event_ids, push_ids = [], []
    if notify:
        event_ids.append(add_event(db_session, event, user_id=job.user_id,
                                   generation_id=job.id))
    if job.batch_id is None:
        push_ids = add_push_events(db_session, event, user_id=job.user_id, generation_id=job.id)
    else:
        batch_ended = batches.end_if_finished(db_session, job.batch_id)
        if batch_ended is not None and notify:
            event_ids.append(add_event(db_session, BATCH_ENDINGS[batch_ended],
                                       user_id=job.user_id,
                                       batch_id=job.batch_id))
        if batch_ended is not None:
            push_ids = add_push_events(db_session, BATCH_ENDINGS[batch_ended],
                                       user_id=job.user_id, batch_id=job.batch_id)
    return event_ids, push_ids


def take_changes(db_session: Session) -> list[JobChange]:
    """The changes recorded since the last commit or rollback, in order; forgets them."""
    changes: list[JobChange] = db_session.info.pop(PENDING, [])
    return changes
