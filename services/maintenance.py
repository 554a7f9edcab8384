"""Scheduled upkeep (API guide §9) as use cases; `workers/maintenance.py` schedules them.

PostgreSQL is the source of truth for jobs: the reaper finds every job whose deadline passed
or whose running attempt's lease ran out, whatever happened to its message (Redis flushed,
worker killed, task lost), and either queues it again or, with its attempts spent, fails and
refunds it. When Redis comes back empty (a restart without persistence, a failover) it
republishes every queued job at once, instead of each one's queue timeout later.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from redis.exceptions import RedisError

from media import get_storage
from models.clock import utcnow
from models.idempotency import purge_expired_keys
from models.job.deletion import release_preview_if_unused
from models.job.reaper import overdue_job_ids, release_overdue_job
from models.job.table import JobStatus, queued_job_ids
from models.uploads import expired_upload_keys, mark_upload_deleted
from services.queue import BROKER_FAULTS, enqueue_job
from services.redis_client import get_redis
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


# Set in Redis once its queue holds every queued job's message. Redis losing its data loses
# this key with the messages: its absence is how the reaper learns that the queue is gone.
BROKER_MARK_KEY = "headshots:queue-complete-since"


@dataclass(frozen=True)
class ReaperSweep:
    overdue: int = 0
    requeued: int = 0
    failed: int = 0
    republished: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def republish_if_queue_lost() -> int:
    """Publish every queued job again if Redis has lost its data since the last sweep; how
    many were published. A job whose message did survive gets a second one, which finds
    nothing to do (the claim is conditional)."""
    try:
        if get_redis().exists(BROKER_MARK_KEY):
            return 0
    except RedisError:
        return 0  # still away: the next sweep looks again
    with unit_of_work() as db_session:
        queued = queued_job_ids(db_session)
    try:
        for job_id in queued:
            enqueue_job(job_id)
        # Only once all are published: a failure half-way publishes them all again next time.
        get_redis().set(BROKER_MARK_KEY, utcnow().isoformat())
    except BROKER_FAULTS:
        log.warning("reaper: Redis lost the queue; republishing failed, next sweep again")
        return 0
    if queued:
        log.warning("reaper: Redis lost its queue; republished %s queued jobs", len(queued))
    return len(queued)


def reap_overdue_jobs() -> ReaperSweep:
    republished = republish_if_queue_lost()
    with unit_of_work() as db_session:
        overdue = overdue_job_ids(db_session)
    requeued = failed = 0
    for job_id in overdue:
        with unit_of_work() as db_session:
            released = release_overdue_job(db_session, job_id)
            db_session.commit()
        if released is None:
            continue
        if released.status == JobStatus.QUEUED:
            # A broker failure here leaves the job queued with a new deadline: the next sweep
            # finds it again.
            enqueue_job(job_id)
            requeued += 1
        else:
            failed += 1
    if overdue:
        log.info("reaper: %s overdue, %s requeued, %s failed and refunded", len(overdue),
                 requeued, failed)
    return ReaperSweep(len(overdue), requeued, failed, republished)


def delete_expired_originals() -> int:
    """Delete uploaded originals past ORIGINAL_RETENTION_MINUTES: the file first, then the mark,
    so a failure in between leaves the original to be deleted again on the next run. A before
    preview that no headshot shows goes with its original."""
    with unit_of_work() as db_session:
        expired = expired_upload_keys(db_session)
    storage = get_storage()
    for upload_id, storage_key in expired:
        storage.delete(storage_key)
        with unit_of_work() as db_session:
            mark_upload_deleted(db_session, upload_id)
            unused = release_preview_if_unused(db_session, upload_id)
            db_session.commit()
        for key in unused:
            storage.delete(key)
    if expired:
        log.info("deleted %s expired originals", len(expired))
    return len(expired)


def purge_idempotency_keys() -> int:
    with unit_of_work() as db_session:
        purged = purge_expired_keys(db_session)
        db_session.commit()
    return purged
