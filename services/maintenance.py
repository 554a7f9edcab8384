"""Scheduled upkeep (contract §9) as use cases; `workers/maintenance.py` schedules them.

PostgreSQL is the source of truth for jobs: the reaper finds every job whose deadline passed,
whatever happened to its message (Redis flushed, worker killed, task lost), and either queues
it again or, with its attempts spent, fails and refunds it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from media import get_storage
from models.generations import GenerationStatus
from models.headshots import release_preview_if_unused
from models.idempotency import purge_expired_keys
from models.jobs import overdue_generation_ids, release_overdue_generation
from models.uploads import expired_upload_keys, mark_upload_deleted
from services.queue import enqueue_generation
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaperSweep:
    overdue: int = 0
    requeued: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def reap_overdue_jobs() -> ReaperSweep:
    with unit_of_work() as db_session:
        overdue = overdue_generation_ids(db_session)
    requeued = failed = 0
    for generation_id in overdue:
        with unit_of_work() as db_session:
            released = release_overdue_generation(db_session, generation_id)
            db_session.commit()
        if released is None:
            continue
        if released.status == GenerationStatus.QUEUED:
            # A broker failure here leaves the job queued with a new deadline: the next sweep
            # finds it again.
            enqueue_generation(generation_id)
            requeued += 1
        else:
            failed += 1
    if overdue:
        log.info("reaper: %s overdue, %s requeued, %s failed and refunded", len(overdue),
                 requeued, failed)
    return ReaperSweep(len(overdue), requeued, failed)


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
