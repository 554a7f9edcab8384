"""The running attempts' leases on their jobs: taking one, renewal, running out.

An attempt takes the lease when it claims its job (`attempts.py`, `claim_job`) and
gives it up with the job's next transition. In between, its worker renews it every
JOB_LEASE_RENEW_SECONDS (`workers/leases.py`); a worker that dies stops renewing, and once the
lease has run out the reaper takes the job over (`reaper.py`).

A lease runs by the database's clock, never a host's: its expiry is computed in the SQL that
takes or renews it (`statement_timestamp()` + JOB_LEASE_SECONDS) and compared with the same
clock when the reaper or a new attempt asks whether it ran out. A worker host whose clock is
behind (or a reaper's that is ahead) would otherwise see live jobs' leases as run out and take
them over; the fence (the attempt number) is unchanged.

A renewal is not a change of the job (nobody sees it; it is not recorded through
`record_change`): one UPDATE for all of a process's attempts. It is fenced like every worker
transition, by the attempt number, so an attempt whose job was taken over learns it here and
stops before it writes anything.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Float, Table, and_, bindparam, func, tuple_, update
from sqlalchemy.orm import Session

from config import get_settings
from models.job.table import Job, JobStatus


def this_process() -> str:
    """The lease owner's name: host and process (for operators; the attempt is the fence)."""
    return f"{socket.gethostname()}:{os.getpid()}"


NO_LEASE: dict[str, Any] = {"lease_expires_at": None, "lease_owner": None}  # once it moves on


_LEASE_SECONDS = bindparam("lease_seconds", type_=Float)


def lease_expiry() -> Any:
    """SQL: when a lease taken or renewed by this statement runs out, by the database's clock
    (the statement takes the length as its `lease_seconds` parameter: `new_lease`)."""
    return func.statement_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, _LEASE_SECONDS)


def new_lease(owner: str | None = None) -> dict[str, Any]:
    """The parameters of a statement that takes a lease (`lease_expiry`), by this process
    unless `owner` says."""
    return {"lease_seconds": get_settings().job_lease_seconds,
            "lease_owner": (owner or this_process())[:200]}


def lease_ran_out() -> Any:
    """SQL: processing, and its attempt stopped renewing (the worker died), by the database's
    clock. On the table's columns, so the transitions' Core statements stay Core."""
    jobs = cast(Table, Job.__table__).c
    return and_(jobs.status == JobStatus.PROCESSING.value,
                jobs.lease_expires_at < func.statement_timestamp())


def renew_leases(db_session: Session, held: Iterable[tuple[int, int]]) -> set[int]:
    """Extend the lease of each (job id, attempt) still held by that attempt; returns
    the job ids renewed. A job missing from the answer is no longer its attempt's."""
    pairs = list(held)
    if not pairs:
        return set()
    renewed = db_session.scalars(
        update(Job)
        .where(Job.status == JobStatus.PROCESSING,
               tuple_(Job.id, Job.attempts).in_(pairs))
        .values(lease_expires_at=lease_expiry())
        .returning(Job.id)
        .execution_options(synchronize_session=False),
        {"lease_seconds": get_settings().job_lease_seconds},
    )
    return set(renewed)
