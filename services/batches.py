"""A batch as the app sees it: its jobs, their combined status and progress, and a ZIP of its
results."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from media import get_storage
from media.storage import StorageNotFound
from models.batches import BatchStatus, batch_status, get_batch_jobs
from models.errors import Conflict
from models.job.snapshot import StatusSnapshot
from models.job.table import Job, JobStatus
from services.events import record_downloads
from services.status import shown_progress
from services.unit_of_work import read_only


@dataclass(frozen=True)
class BatchView:
    batch_id: uuid.UUID
    status: BatchStatus
    progress: int  # the mean of its jobs' progress
    jobs: list[Job]


def batch(*, user_id: int, batch_id: uuid.UUID, include_deleted: bool = False) -> BatchView:
    """The user's batch; anybody else's, or an unknown one, is NotFound."""
    with read_only() as db_session:
        jobs = get_batch_jobs(db_session, user_id=user_id, batch_id=batch_id,
                              include_deleted=include_deleted)
    progress = [shown_progress(StatusSnapshot.of(job)) for job in jobs]
    return BatchView(batch_id, batch_status([job.status for job in jobs]),
                     round(sum(progress) / len(progress)), jobs)


def archive_entries(view: BatchView, *, user_id: int) -> list[tuple[str, str]]:
    """(file name in the ZIP, storage key) of each completed result, named by its style; each
    completed headshot in it is a download by its owner (`headshot_downloaded`, via `zip`)."""
    entries = []
    for job in view.jobs:
        if job.status != JobStatus.COMPLETED:
            continue
        for index, key in enumerate(job.result_keys):
            suffix = f"-{index + 1}" if index else ""
            entries.append((f"{job.style}{suffix}.{key.rsplit('.', 1)[1]}", key))
    if not entries:
        raise Conflict("no headshot of this batch has completed yet", code="nothing_completed")
    record_downloads(user_id=user_id, via="zip", job_ids=[
        job.id for job in view.jobs if job.status == JobStatus.COMPLETED and job.result_keys])
    return entries


class _Chunks:
    """A write-only, unseekable file that hands out what was written since the last take."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def stream_archive(entries: list[tuple[str, str]]) -> Iterator[bytes]:
    """The ZIP, one result in memory at a time: stored, not deflated (JPEGs do not shrink)."""
    out = _Chunks()
    storage = get_storage()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, key in entries:
            try:
                data = storage.get(key)
            except StorageNotFound:  # deleted since the listing: leave it out
                continue
            with archive.open(name, "w") as member:
                member.write(data)
            yield out.take()
    yield out.take()
