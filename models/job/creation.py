"""Creating jobs (the API side): the charge and the queued jobs it pays for, in one statement.

The transitions that follow are `attempts.py`'s and `endings.py`'s; this is where a job
begins. Every job created here still takes the one path of a change
(`record_change`, Change.CREATED).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models.clock import utcnow
from models.credits import EntryType, Movement, note_movements, refusal
from models.job.changes import Change, record_change
from models.job.endings import queue_deadline
from models.job.table import Job
from models.prepared import PreparedStatement
from models.styles import OfferedStyle
from models.uploads import Upload, find_usable_upload


def create_job(
    db_session: Session,
    *,
    user_id: int,
    upload: Upload,
    style: OfferedStyle,
    aspect_ratio: str,
) -> Job:
    """Create a queued job and charge for it, in the caller's transaction (commit to keep both)."""
    return create_jobs(db_session, user_id=user_id, storage_key=upload.storage_key,
                              styles=[style], aspect_ratio=aspect_ratio)[0]


def create_jobs(
    db_session: Session,
    *,
    user_id: int,
    storage_key: str,
    styles: Sequence[OfferedStyle],
    aspect_ratio: str,
    new_batch_id: uuid.UUID | None = None,
    email: str | None = None,
) -> list[Job]:
    """Create one queued job per style (their ids in the order of `styles`) from the user's
    upload behind `storage_key` and charge for each, in the caller's transaction (commit to
    keep them): all or none. Refused as `find_usable_upload` refuses (the upload is not the
    user's, or is gone), else 402 when the balance cannot pay for them all.
    `new_batch_id`: the jobs make up a new batch of that id. `email`: keep the user's one
    current with the charge.

    One statement, one round trip however many styles (`_CHARGED_JOBS`), the upload's check
    and share-lock included.
    """
    now = utcnow()
    total = sum(style.credit_cost for style in styles)
    _CHARGED_JOBS.prepare_on(db_session.connection())
    rows = db_session.execute(_charged_jobs(), {
        "user_id": user_id, "total": total, "email": email, "storage_key": storage_key,
        "styles": [style.id for style in styles],
        "costs": [style.credit_cost for style in styles],
        "descriptions": [f"{style.name} headshot" for style in styles],
        "aspect_ratio": aspect_ratio, "now": now, "deadline": queue_deadline(now),
        "batch_id": str(new_batch_id) if new_batch_id else None, "size": len(styles),
    }).all()
    if not rows:
        # Nothing written: say why, the upload first (as it was checked before the charge).
        find_usable_upload(db_session, user_id=user_id, storage_key=storage_key)
        raise refusal(db_session, user_id=user_id, amount=-total)
    jobs = [job for job, _ in rows]
    upload = rows[0][1]
    note_movements(db_session, [Movement(EntryType.HEADSHOT, -job.credit_cost)
                                for job in jobs])
    for job in jobs:
        set_committed_value(job, "upload", upload)  # loaded: the reply shows it
        record_change(db_session, job, Change.CREATED)
    return jobs


# The charge and the jobs it pays for, as one statement: the upload, share-locked while usable
# (the rule and the lock of `models/uploads.find_usable_upload`: the user's own, neither deleted
# nor expired; a racing delete either commits first and the lock's recheck sees it deleted, or
# waits for this transaction), the balance's conditional UPDATE (the rule of
# `models/credits.balance_update`: it matches no row when the balance is short or the upload not
# usable, and then nothing else is written either), the batch row when they make one (the
# jobs' foreign key is checked at the end of the statement), one queued job per asked style
# in their order (the rest of the row: the table's defaults), one ledger row per job carrying
# the balance after it, as if charged one after the other, and each job's `headshot_started`
# event (which record_change writes for the other changes). Plain SQL, so building and
# compiling it costs nothing per request (as a SQLAlchemy expression that was a large part of
# an accept); prepared on each connection (models/prepared.py), so PostgreSQL does not parse
# and plan it per request either (most of what the database spent on it).
_JOB_COLUMNS = ", ".join(column.name for column in cast(Table, Job.__table__).c)
_JOBS_COLUMNS = ", ".join(f"jobs.{column.name}"
                          for column in cast(Table, Job.__table__).c)
_UPLOAD_COLUMNS = ", ".join(f"upload.{column.name}"
                            for column in cast(Table, Upload.__table__).c)
_CHARGED_JOBS_SQL = f"""
WITH upload AS (
    SELECT * FROM uploads
    WHERE storage_key = :storage_key AND user_id = :user_id
        AND deleted_at IS NULL AND expires_at > :now
    FOR SHARE
), charged AS (
    UPDATE users
    SET credits = credits - :total,
        total_credits_spent = total_credits_spent + :total,
        email = COALESCE(CAST(:email AS VARCHAR), email)
    WHERE id = :user_id AND credits >= :total AND EXISTS (SELECT FROM upload)
    RETURNING credits AS balance
), asked AS (
    SELECT * FROM unnest(CAST(:styles AS VARCHAR[]), CAST(:costs AS INTEGER[]),
                         CAST(:descriptions AS VARCHAR[]))
                  WITH ORDINALITY AS asked (style, cost, description, ordinal)
), batch AS (
    INSERT INTO headshot_batches (id, user_id, size, created_at)
    SELECT CAST(:batch_id AS UUID), :user_id, :size, :now
    FROM charged WHERE CAST(:batch_id AS UUID) IS NOT NULL
), jobs AS (
    INSERT INTO headshot_generations (user_id, upload_id, style, aspect_ratio, status, progress,
        progress_at, result_keys, credit_cost, metadata, batch_id, created_at, deadline_at)
    SELECT :user_id, upload.id, asked.style, :aspect_ratio, 'queued', 0, :now,
        '[]'::jsonb, asked.cost, '{{}}'::jsonb, CAST(:batch_id AS UUID), :now, :deadline
    FROM asked CROSS JOIN charged CROSS JOIN upload
    ORDER BY asked.ordinal
    RETURNING {_JOB_COLUMNS}
), ledger AS (
    INSERT INTO credit_histories (user_id, generation_id, generation_round, type, amount,
        balance_after, description, created_at)
    SELECT jobs.user_id, jobs.id, jobs.retry_count, 'headshot', -jobs.credit_cost,
        charged.balance + COALESCE(SUM(jobs.credit_cost) OVER (
            ORDER BY jobs.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
        asked.description, :now
    FROM jobs JOIN asked ON asked.style = jobs.style CROSS JOIN charged
    ORDER BY jobs.id
), started AS (
    INSERT INTO events (name, source, user_id, generation_id, properties, created_at)
    SELECT 'headshot_started', 'service', jobs.user_id, jobs.id,
        jsonb_build_object('style', jobs.style), :now
    FROM jobs ORDER BY jobs.id
)
SELECT {_JOBS_COLUMNS}, {_UPLOAD_COLUMNS} FROM jobs CROSS JOIN upload ORDER BY jobs.id
"""


_CHARGED_JOBS = PreparedStatement("charged_jobs", _CHARGED_JOBS_SQL, {
    "storage_key": "VARCHAR", "user_id": "BIGINT", "now": "TIMESTAMPTZ", "total": "INTEGER",
    "email": "VARCHAR", "styles": "VARCHAR[]", "costs": "INTEGER[]",
    "descriptions": "VARCHAR[]", "batch_id": "UUID", "size": "INTEGER",
    "aspect_ratio": "VARCHAR", "deadline": "TIMESTAMPTZ",
})


@functools.cache
def _charged_jobs() -> Any:
    # The columns matched by position: the job's and the upload's share names (id, user_id...).
    return select(Job, Upload).from_statement(
        _CHARGED_JOBS.execute.columns(*cast(Table, Job.__table__).c,
                                      *cast(Table, Upload.__table__).c))
