"""The parts every prebuilt job statement is made of, private to the package: shared by a
worker's transitions (`attempts.py`), the endings (`endings.py`) and the stuck-job reaper
(`reaper.py`).

Each transition is one prebuilt Core statement, `UPDATE ... WHERE <the state it expects>
RETURNING <the row>`, executed with its values as parameters: built once, its compiled form
is reused (building the ORM statement and the ORM object each time was most of a worker's
CPU per job), and the progress it stores is computed by the UPDATE itself under the row
lock it takes (no SELECT ... FOR UPDATE first).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Integer,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    func,
    null,
    or_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from config import get_settings
from models.job.changes import Change, record_change
from models.job.leases import NO_LEASE, lease_ran_out
from models.job.progress import PROGRESS_FREEZE_LEAD_SECONDS, displayed_progress_sql
from models.job.table import IN_FLIGHT, Job, JobRow, JobStatus

JOBS = cast(Table, Job.__table__)
job = JOBS.c

JOB_ID = bindparam("job_id", type_=BigInteger)
NOW = bindparam("now", type_=DateTime(timezone=True))
MAX_ATTEMPTS = bindparam("max_attempts", type_=Integer)
MILESTONE = bindparam("milestone", type_=Integer)
SHOWN_AT = bindparam("shown_at", type_=DateTime(timezone=True))
EXPECTED_SECONDS = bindparam("expected_seconds", type_=Float)
ATTEMPT = bindparam("attempt", type_=Integer)
NO_LEASE_NULLS = {column: null() for column in NO_LEASE}  # written as NULL, not as parameters


def _column(name: str) -> Any:
    return job["metadata" if name == "meta" else name].label(name)


RETURNED = tuple(_column(field.name) for field in fields(JobRow))


def has_attempts_left() -> Any:
    """`may_attempt_again`, as a SQL condition on the row (the limit: `max_attempts`)."""
    return job.attempts - job.attempts_before_round < MAX_ATTEMPTS


def progress_from_now() -> Any:
    """The progress to store with a new milestone (`milestone`): never below what readers show
    right now, nor in the moment (PROGRESS_FREEZE_LEAD_SECONDS) before the new state reaches
    them. Storing a milestone restarts the estimate's clock, so storing less than the estimate
    shown at this moment would make the bar go back."""
    shown = displayed_progress_sql(job.status, job.progress, job.progress_at, SHOWN_AT,
                                   expected_seconds=EXPECTED_SECONDS)
    return func.greatest(job.progress, MILESTONE, shown)


def overdue() -> Any:
    """In flight past its deadline, or processing by an attempt whose lease ran out: what the
    reaper takes over, and what a new attempt may claim."""
    return and_(job.status.in_(IN_FLIGHT), or_(job.deadline_at < NOW, lease_ran_out()))


def held_by_attempt() -> tuple[Any, ...]:
    """Processing by the attempt `attempt`: the fence of every write an attempt makes."""
    return (job.status == JobStatus.PROCESSING.value, job.attempts == ATTEMPT)


def merged_meta() -> Any:
    """The job's metadata with `meta`'s keys written over it."""
    return job.metadata.op("||")(bindparam("meta", type_=JSONB))


# What every ending (completed, failed, cancelled) writes besides its own columns: it ended now,
# with what it learnt on the way; no deadline, no lease.
ENDED = {"progress_at": NOW, "metadata": merged_meta(), "completed_at": NOW,
         "deadline_at": null(), **NO_LEASE_NULLS}


def update_job(*conditions: Any, **values: Any) -> Update:
    """`UPDATE` the job `job_id` if `conditions` hold, `RETURNING` its new row."""
    return (update(JOBS).where(job.id == JOB_ID, *conditions).values(**values)
            .returning(*RETURNED))


def transition_params(job_id: int, now: datetime, **values: Any) -> dict[str, Any]:
    """The parameters every transition statement takes, plus its own `values`."""
    settings = get_settings()
    return {
        "job_id": job_id,
        "now": now,
        "max_attempts": settings.getimg_max_attempts,
        "shown_at": now + timedelta(seconds=PROGRESS_FREEZE_LEAD_SECONDS),
        "expected_seconds": settings.getimg_expected_seconds,
        "milestone": 0,
        **values,
    }


def run_transition(db_session: Session, statement: Update | Select[Any], change: Change,
                   params: dict[str, Any], row_type: type[JobRow] = JobRow) -> Any:
    """Run the transition; record the change; None if the job did not move."""
    row = db_session.execute(statement, params).one_or_none()
    if row is None:
        return None
    moved = row_type(**row._mapping)
    # An ORM copy of the row this session loaded earlier is stale now: the next read of it
    # loads the row again. (A worker's session has loaded none: it skips the lookup, whose
    # mapper inspection is a real part of a transition's cost.)
    if db_session.identity_map:
        key = db_session.identity_key(Job, moved.id)
        if (loaded := db_session.identity_map.get(key)) is not None:
            db_session.expire(loaded)
    record_change(db_session, moved, change)
    return moved
