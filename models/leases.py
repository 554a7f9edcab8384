"""The running attempts' leases on their jobs: taking one, renewal, running out.

An attempt takes the lease when it claims its job (`models/jobs.py`, `claim_generation`) and
gives it up with the job's next transition. In between, its worker renews it every
JOB_LEASE_RENEW_SECONDS (`workers/leases.py`); a worker that dies stops renewing, and once the
lease has run out the reaper takes the job over (`models/reaper.py`).

A renewal is not a change of the job (nobody sees it; it is not recorded through
`record_change`): one UPDATE for all of a process's attempts. It is fenced like every worker
transition, by the attempt number, so an attempt whose job was taken over learns it here and
stops before it writes anything.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, tuple_, update
from sqlalchemy.orm import Session

from config import get_settings
from models.clock import utcnow
from models.generations import GenerationStatus, HeadshotGeneration


def this_process() -> str:
    """The lease owner's name: host and process (for operators; the attempt is the fence)."""
    return f"{socket.gethostname()}:{os.getpid()}"


NO_LEASE: dict[str, Any] = {"lease_expires_at": None, "lease_owner": None}  # once it moves on


def _expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=get_settings().job_lease_seconds)


def new_lease(now: datetime, owner: str | None = None) -> dict[str, Any]:
    """The columns of a lease taken at `now` (by this process unless `owner` says)."""
    return {"lease_expires_at": _expiry(now), "lease_owner": (owner or this_process())[:200]}


def lease_ran_out(now: Any) -> Any:
    """SQL: processing, and its attempt stopped renewing (the worker died). On the table's
    columns, so the Core statements of `models/jobs.py` stay Core."""
    jobs = cast(Table, HeadshotGeneration.__table__).c
    return and_(jobs.status == GenerationStatus.PROCESSING.value, jobs.lease_expires_at < now)


def renew_leases(db_session: Session, held: Iterable[tuple[int, int]]) -> set[int]:
    """Extend the lease of each (generation id, attempt) still held by that attempt; returns
    the generation ids renewed. A job missing from the answer is no longer its attempt's."""
    pairs = list(held)
    if not pairs:
        return set()
    renewed = db_session.scalars(
        update(HeadshotGeneration)
        .where(HeadshotGeneration.status == GenerationStatus.PROCESSING,
               tuple_(HeadshotGeneration.id, HeadshotGeneration.attempts).in_(pairs))
        .values(lease_expires_at=_expiry(utcnow()))
        .returning(HeadshotGeneration.id)
        .execution_options(synchronize_session=False)
    )
    return set(renewed)
