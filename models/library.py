"""A user's own jobs as the library shows them: the list, and marking favorites. (Reading one:
`models/job/table.get_job`; retrying, cancelling: `models/job/endings.py`; deleting:
`models/job/deletion.py`.)"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.job.table import Job, JobStatus, get_job, live_of


def list_jobs(
    db_session: Session,
    *,
    user_id: int,
    limit: int,
    before_id: int | None = None,
    status: JobStatus | None = None,
    style: str | None = None,
    favorite: bool | None = None,
) -> list[Job]:
    query = live_of(user_id)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    if status is not None:
        query = query.where(Job.status == status.value)
    if style is not None:
        query = query.where(Job.style == style)
    if favorite is not None:
        query = query.where(Job.is_favorite.is_(favorite))
    return list(db_session.scalars(query.order_by(Job.id.desc()).limit(limit)))


def set_favorite(db_session: Session, *, user_id: int, job_id: int, favorite: bool) -> Job:
    """Mark or unmark the user's job as a favorite (idempotent)."""
    job = get_job(db_session, user_id=user_id, job_id=job_id)
    job.is_favorite = favorite
    db_session.flush()
    return job
