"""Scheduled upkeep (contract §9), run by Celery beat; each schedule sits next to its task.

PostgreSQL is the source of truth for jobs: the reaper finds every job whose deadline passed,
whatever happened to its message (Redis flushed, worker killed, task lost), and either queues
it again or, with its attempts spent, fails and refunds it.
"""

from __future__ import annotations

import contextlib
import logging

from redis.exceptions import LockError

from config import get_settings
from models.db import unit_of_work
from models.generations import (
    GenerationStatus,
    StatusSnapshot,
    overdue_generation_ids,
    release_overdue_generation,
)
from models.idempotency import purge_expired_keys
from models.uploads import expired_upload_keys, mark_upload_deleted
from workers.celery_app import celery_app
from workers.generate_task import generate_headshot
from workers.media import get_storage
from workers.redis_connection import get_redis
from workers.status_cache import get_status_cache

log = logging.getLogger(__name__)


REAPER_LOCK_KEY = "headshots:reaper-running"


@celery_app.task(name="maintenance.reap_stuck_jobs")
def reap_stuck_jobs() -> dict[str, int]:
    # One sweep at a time: a slow sweep and the next one would only trip over each other.
    lock = get_redis().lock(REAPER_LOCK_KEY, timeout=300, blocking=False)
    if not lock.acquire():
        return {"overdue": 0, "requeued": 0, "failed": 0}
    try:
        return _reap()
    finally:
        with contextlib.suppress(LockError):  # expired or lost with a Redis restart: fine
            lock.release()


def _reap() -> dict[str, int]:
    with unit_of_work() as db_session:
        overdue = overdue_generation_ids(db_session)
    requeued = failed = 0
    for generation_id in overdue:
        with unit_of_work() as db_session:
            released = release_overdue_generation(db_session, generation_id)
            db_session.commit()
        if released is None:
            continue
        get_status_cache().publish(StatusSnapshot.of(released))
        if released.status == GenerationStatus.QUEUED:
            # A broker failure here leaves the job queued with a new deadline: the next run
            # finds it again.
            generate_headshot.apply_async(args=[generation_id])
            requeued += 1
        else:
            failed += 1
    if overdue:
        log.info("reaper: %s overdue, %s requeued, %s failed and refunded", len(overdue),
                 requeued, failed)
    return {"overdue": len(overdue), "requeued": requeued, "failed": failed}


@celery_app.task(name="maintenance.delete_expired_originals")
def delete_expired_originals() -> int:
    """Delete uploaded originals past ORIGINAL_RETENTION_MINUTES: the file first, then the mark,
    so a failure in between leaves the original to be deleted again on the next run."""
    with unit_of_work() as db_session:
        expired = expired_upload_keys(db_session)
    storage = get_storage()
    for upload_id, storage_key in expired:
        storage.delete(storage_key)
        with unit_of_work() as db_session:
            mark_upload_deleted(db_session, upload_id)
            db_session.commit()
    if expired:
        log.info("deleted %s expired originals", len(expired))
    return len(expired)


@celery_app.task(name="maintenance.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    with unit_of_work() as db_session:
        purged = purge_expired_keys(db_session)
        db_session.commit()
    return purged


def beat_schedule() -> dict[str, dict[str, object]]:
    settings = get_settings()
    return {
        "reap-stuck-jobs": {"task": reap_stuck_jobs.name,
                            "schedule": float(settings.reaper_interval_seconds)},
        "delete-expired-originals": {"task": delete_expired_originals.name,
                                     "schedule": float(settings.cleanup_interval_seconds)},
        "purge-idempotency-keys": {"task": purge_idempotency_keys.name, "schedule": 3600.0},
    }
