"""What the app polls: a job's status, its place in the queue and an estimate of the wait."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace

from config import get_settings
from models.job import get_job
from models.job.snapshot import StatusSnapshot
from models.job.table import JobStatus
from services.poll_budget import get_poll_budget
from services.status_cache import CachedStatus, Updates, get_status_cache, status_updates
from services.status_mirror import get_status_mirror
from services.unit_of_work import unit_of_work

__all__ = [
    "PolledStatus", "Updates", "current_status", "published", "read_status", "shown_progress",
    "status_of", "status_updates",
]


@dataclass(frozen=True)
class PolledStatus:
    snapshot: StatusSnapshot
    progress: int  # what the bar shows now
    queue_position: int | None  # jobs ahead of this one, while queued
    eta_seconds: int | None  # while queued or processing
    polls_this_minute: int  # the reader's status reads in the current clock minute


def status_of(snapshot: StatusSnapshot, cached: CachedStatus, *, now: float | None = None
              ) -> PolledStatus:
    """The status shown for `snapshot`, with the queue figures the cache read alongside it."""
    now = time.time() if now is None else now
    settings = get_settings()
    average = cached.average_seconds or settings.getimg_expected_seconds
    queue_position: int | None = None
    eta: int | None = None
    if snapshot.status == JobStatus.QUEUED:
        queue_position = cached.jobs_ahead if cached.jobs_ahead is not None else 0
        eta = math.ceil((queue_position // settings.worker_concurrency + 1) * average)
    elif snapshot.status == JobStatus.PROCESSING:
        elapsed = now - (snapshot.started_at or now)
        eta = max(1, math.ceil(average - elapsed))
    return PolledStatus(snapshot, shown_progress(snapshot, now=now), queue_position, eta,
                     cached.polls_this_minute)


def shown_progress(snapshot: StatusSnapshot, *, now: float | None = None) -> int:
    """What the progress bar shows at `now` (default: this moment)."""
    return snapshot.displayed_progress(time.time() if now is None else now,
                                       expected_seconds=get_settings().getimg_expected_seconds)


def read_status(*, user_id: int, job_id: int) -> tuple[StatusSnapshot, CachedStatus]:
    """The user's own job's snapshot, and the queue figures and the read's number among the
    user's reads this minute alongside. The snapshot comes from this process's status mirror
    when it knows the job, else from Redis while known there, else from PostgreSQL (which
    refills Redis). Anybody else's job is NotFound."""
    now = time.time()
    minute = int(now // 60)
    budget = get_poll_budget()
    number = budget.next_number(user_id, minute=minute)
    lease = 0 if number is not None else budget.lease_size
    mirror = get_status_mirror()
    mirrored = mirror.get(job_id, now=now) if mirror is not None else None
    snapshot: StatusSnapshot
    if mirrored is not None and mirrored.user_id == user_id:
        snapshot = mirrored
        average = _averages.get(now) if mirrored.status == JobStatus.PROCESSING else None
        cached = CachedStatus(mirrored, None, average)  # the average: a processing job's wait
        counted_to = get_status_cache().count_polls(reader=user_id, minute=minute,
                                                    lease=lease) if lease else None
    else:
        changes_seen = mirror.changes() if mirror is not None else None
        cached, counted_to = get_status_cache().read(job_id, reader=user_id,
                                                     minute=minute, lease=lease)
        _averages.learned(cached.average_seconds, now)
        if cached.snapshot is None or cached.snapshot.user_id != user_id:
            snapshot = _refills.read(user_id=user_id, job_id=job_id)
        else:
            snapshot = cached.snapshot
            if mirror is not None:
                mirror.offer(snapshot, changes_seen=changes_seen)
    if number is None:  # a lease was asked for: its first number (none if Redis failed)
        number = budget.leased(user_id, counted_to, minute=minute) if counted_to else 0
    return snapshot, replace(cached, polls_this_minute=number)


class _Averages:
    """The expected-wait average as Redis last told it, at most a second old: a poll the
    mirror answers need not read it each time."""

    def __init__(self) -> None:
        self._value: float | None = None
        self._read_at = -math.inf

    def learned(self, value: float | None, now: float) -> None:
        self._value, self._read_at = value, now

    def get(self, now: float) -> float | None:
        if now - self._read_at > AVERAGE_SECONDS:
            self.learned(get_status_cache().average_seconds(), now)
        return self._value


AVERAGE_SECONDS = 1.0
_averages = _Averages()


class _Refills:
    """The database reads that refill the cache, one per job at a time in this process.

    An unfinished job's key expires every UNFINISHED_TTL_SECONDS; the polls of that job that
    arrive while its refill runs (the app polls each job from a few connections, a herd when
    the key expires) wait for that one read instead of each making their own: otherwise one
    refill draws many reads of the same row at once.
    A waiter gets the snapshot only if it is its own job; otherwise, or if the read failed, it
    reads for itself (a 404, or the error).
    """

    def __init__(self) -> None:
        self._running: dict[int, Future[StatusSnapshot]] = {}
        self._lock = threading.Lock()

    def read(self, *, user_id: int, job_id: int) -> StatusSnapshot:
        mine: Future[StatusSnapshot] = Future()
        with self._lock:
            running = self._running.setdefault(job_id, mine)
        if running is not mine:
            try:
                snapshot = running.result(timeout=REFILL_WAIT_SECONDS)
            except Exception:  # noqa: BLE001 - the leader's failure: try for ourselves
                return _snapshot_from_database(user_id=user_id, job_id=job_id)
            if snapshot.user_id == user_id:
                return snapshot
            return _snapshot_from_database(user_id=user_id, job_id=job_id)
        try:
            snapshot = _snapshot_from_database(user_id=user_id, job_id=job_id)
            mine.set_result(snapshot)
            return snapshot
        except Exception as error:
            mine.set_exception(error)
            raise
        finally:
            if not mine.done():  # interrupted (a timeout, the greenlet killed): waiters retry
                mine.set_exception(RefillInterrupted())
            with self._lock:
                del self._running[job_id]


class RefillInterrupted(Exception):
    """What a refill's waiters see when it ended without a snapshot or an error."""


REFILL_WAIT_SECONDS = 5  # past that, a waiter reads for itself
_refills = _Refills()


def _snapshot_from_database(*, user_id: int, job_id: int) -> StatusSnapshot:
    """The user's own job from PostgreSQL (NotFound for anybody else's), put in the cache."""
    with unit_of_work() as db_session:
        job = get_job(db_session, user_id=user_id, job_id=job_id)
        snapshot = StatusSnapshot.of(job)
    get_status_cache().publish(snapshot)  # a refill of what is already committed, not a change
    return snapshot


def current_status(*, user_id: int, job_id: int) -> PolledStatus:
    return status_of(*read_status(user_id=user_id, job_id=job_id))


def published(update: StatusSnapshot, earlier: CachedStatus) -> CachedStatus:
    """What a stream knows after `update` arrived by pub/sub (no fresh queue figures)."""
    return CachedStatus(update, None, earlier.average_seconds)
