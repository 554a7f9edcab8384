"""What this worker process holds, kept alive while it works, and handed back when it stops.

Each running attempt registers its job (the lease taken by the claim) and its GetImg slot here;
one thread per process renews them all every JOB_LEASE_RENEW_SECONDS: one UPDATE for the jobs,
one Redis call for the slots. A job the renewal finds no longer its attempt's (taken over,
cancelled) is marked lost, and its attempt stops at its next step (its GetImg call is
abandoned at once: `workers/attempt.py`); every write it could still try is fenced by its
attempt number anyway. A second thread listens for cancels (`services/cancel_notices.py`): a
cancel of a job held here makes the renewal run at once rather than at its usual time, so the
GetImg call stops and frees its slot within a moment of the cancel.

SIGTERM (Celery's warm shutdown): the attempts get WORKER_SHUTDOWN_GRACE_SECONDS to finish;
then the jobs still held go back to the queue at once (republished), their slots are freed
and the process exits, instead of waiting out GetImg calls that nobody will use. A worker
killed outright (SIGKILL, host lost) renews nothing: its leases run out and the reaper takes
its jobs over.

The registry is per process: the Procfile's worker runs the threads pool, so every attempt
runs in the process that receives the signal.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_ready, worker_shutting_down
from redis.exceptions import RedisError

from config import get_settings
from services import getimg_slots, jobs
from services.cancel_notices import listen_for_cancels
from services.jobs import Claimed
from services.queue import BROKER_FAULTS, enqueue_job

log = logging.getLogger(__name__)

HANDED_BACK = "worker_shutdown"
HANDED_BACK_MESSAGE = "The worker making your headshot restarted; it is being retried."


@dataclass
class HeldJob:
    job: Claimed
    lost: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """This process's held jobs and GetImg slots, and the thread that renews them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, HeldJob] = {}
        self._slots: set[str] = set()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._renew_early = threading.Event()  # set: renew now, not at the usual time

    # -- what the attempts call ----------------------------------------------------------

    def hold_job(self, job: Claimed) -> HeldJob:
        held = HeldJob(job)
        with self._lock:
            self._jobs[job.id] = held
        self._ensure_running()
        return held

    def drop_job(self, job: Claimed) -> None:
        with self._lock:
            held = self._jobs.get(job.id)
            if held is not None and held.job.attempt == job.attempt:
                del self._jobs[job.id]

    def hold_slot(self, holder: str) -> None:
        with self._lock:
            self._slots.add(holder)
        self._ensure_running()

    def drop_slot(self, holder: str) -> None:
        with self._lock:
            self._slots.discard(holder)

    def notice_cancelled(self, generation_id: int) -> None:
        """A job was cancelled: if this process holds it, renew now, which finds it gone (the
        renewal, fenced by the attempt, decides; the notice only brings it forward)."""
        with self._lock:
            held = generation_id in self._jobs
        if held:
            self._renew_early.set()

    # -- renewal ---------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        with self._lock:
            # A forked child inherits the registry's object but not its thread.
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
            self._thread.start()
            threading.Thread(target=listen_for_cancels, args=(self.notice_cancelled,),
                             name="cancel-listener", daemon=True).start()

    def _run(self) -> None:
        interval = get_settings().job_lease_renew_seconds
        while True:
            self._renew_early.wait(interval)
            self._renew_early.clear()
            try:
                self.renew_now()
            except Exception:  # the keeper must outlive any one bad renewal
                log.exception("lease keeper: renewal failed")

    def renew_now(self) -> None:
        with self._lock:
            held = list(self._jobs.values())
            slots = list(self._slots)
        if held:
            try:
                renewed = jobs.renew([entry.job for entry in held])
            except Exception:
                # PostgreSQL away: nothing to renew against; the fenced writes keep us honest.
                log.warning("lease keeper: could not renew %s job leases", len(held),
                            exc_info=True)
            else:
                for entry in held:
                    if entry.job.id not in renewed:
                        entry.lost.set()
        if slots:
            try:
                getimg_slots.renew(slots)
            except RedisError:
                log.warning("lease keeper: could not renew %s GetImg slots", len(slots))

    # -- shutdown ---------------------------------------------------------------------------

    def hand_back_all(self) -> int:
        """Give every held job back to the queue (republished) and free every slot; how many
        jobs went back."""
        with self._lock:
            held = list(self._jobs.values())
            slots = list(self._slots)
            self._jobs.clear()
            self._slots.clear()
        handed = 0
        for entry in held:
            entry.lost.set()
            try:
                # A restart is not the job's fault: the attempt is given back, even its last
                # (past the round's time budget the job ends failed and refunded instead).
                if not jobs.give_back(entry.job, retry_in_seconds=0, code=HANDED_BACK,
                                      message=HANDED_BACK_MESSAGE):
                    continue
                handed += 1
                enqueue_job(entry.job.id)
            except BROKER_FAULTS:
                log.warning("job %s: handed back but not republished; the reaper will",
                            entry.job.id)
            except Exception:  # PostgreSQL away: the lease runs out, the reaper takes over
                log.exception("job %s: could not hand back", entry.job.id)
        for holder in slots:
            getimg_slots.release(holder)
        return handed


KEEPER = LeaseKeeper()


# The worker's consumer (Celery's `worker_ready` sender), for what it took from the broker.
_consumer: Any = None


@worker_ready.connect
def _remember_the_consumer(sender: Any = None, **_: Any) -> None:
    global _consumer
    _consumer = sender


def _restore_reserved_messages() -> None:
    """Put back in the queue every message this worker took and has not acknowledged (a task
    waiting for its countdown, one not started): `os._exit` skips kombu's own restore at
    shutdown, and they would wait out the broker's visibility timeout. A duplicate of a job
    handed back is harmless: the claim is conditional."""
    try:
        _consumer.task_consumer.channel.qos.restore_unacked_once()
    except Exception:  # no consumer yet, or the broker away: the reaper republishes later
        log.exception("warm shutdown: could not give the reserved messages back")


def _hand_back_and_exit() -> None:
    handed = KEEPER.hand_back_all()
    _restore_reserved_messages()
    log.warning("warm shutdown: grace over; %s jobs handed back to the queue; exiting", handed)
    logging.shutdown()
    os._exit(0)  # noqa: SLF001 - the attempts still running write nothing that counts


@worker_shutting_down.connect
def _bound_the_warm_shutdown(how: str = "", **_: Any) -> None:
    """Celery's warm shutdown waits for every running task, however long its GetImg call
    takes; this bounds it."""
    grace = get_settings().worker_shutdown_grace_seconds
    log.info("shutting down (%s): attempts have %.0f s to finish", how, grace)
    timer = threading.Timer(grace, _hand_back_and_exit)
    timer.daemon = True
    timer.start()
