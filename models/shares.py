"""Public share links: an unguessable token opens one completed headshot, until it expires or
is revoked.

Only a hash of the token is stored, so the table alone opens nothing. A headshot has at most
one live link (a partial unique index): sharing again replaces it.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.errors import Conflict
from models.job.table import Job, JobStatus

TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters
DEFAULT_LIFETIME_HOURS = 24 * 7
MAX_LIFETIME_HOURS = 24 * 30


class HeadshotShare(Base):
    __tablename__ = "headshot_shares"
    __table_args__ = (
        Index("uq_headshot_shares_token_hash", "token_hash", unique=True),
        Index("uq_headshot_shares_live_per_generation", "generation_id", unique=True,
              postgresql_where=text("revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("headshot_generations.id"))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkState(enum.StrEnum):
    LIVE = "live"
    GONE = "gone"  # expired or revoked: 410
    UNKNOWN = "unknown"  # never issued: 404


@dataclass(frozen=True)
class IssuedLink:
    token: str  # shown once, to the owner; only its hash is kept
    expires_at: datetime


@dataclass(frozen=True)
class SharedHeadshot:
    state: LinkState
    job: Job | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_job(db_session: Session, job: Job, *,
                     lifetime_hours: int) -> IssuedLink:
    """A new link to the (completed) headshot; the previous live one, if any, is revoked."""
    if job.status != JobStatus.COMPLETED:
        raise Conflict(f"only a completed headshot can be shared; this one is "
                       f"{job.status}", code="not_completed")
    revoke_shares(db_session, job.id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    expires_at = now + timedelta(hours=lifetime_hours)
    db_session.add(HeadshotShare(generation_id=job.id, token_hash=token_hash(token),
                                 created_at=now, expires_at=expires_at))
    db_session.flush()
    return IssuedLink(token, expires_at)


def revoke_shares(db_session: Session, job_id: int) -> int:
    """Revoke the headshot's live link; how many were revoked (0 or 1)."""
    result = db_session.execute(
        update(HeadshotShare)
        .where(HeadshotShare.generation_id == job_id, HeadshotShare.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def resolve_share(db_session: Session, token: str) -> SharedHeadshot:
    """What a public link opens: the headshot while the link is live."""
    row = db_session.execute(
        select(HeadshotShare, Job)
        .join(Job, Job.id == HeadshotShare.generation_id)
        .where(HeadshotShare.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        return SharedHeadshot(LinkState.UNKNOWN)
    share, job = row
    live = (share.revoked_at is None and share.expires_at > utcnow()
            and job.deleted_at is None and job.status == JobStatus.COMPLETED
            and bool(job.result_keys))
    return SharedHeadshot(LinkState.LIVE, job) if live else SharedHeadshot(LinkState.GONE)
