"""Uploaded originals: owned by one user, deleted after the retention period."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from config import get_settings
from models.base import Base
from models.clock import utcnow
from models.errors import InvalidRequest, OriginalExpired


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    # A small copy (long side <= 512 px, no metadata) kept while a headshot made from the
    # upload is: the app's before/after after the original itself is gone.
    preview_key: Mapped[str | None] = mapped_column(String(200))
    # The preview's size in pixels, recorded when it is written (NULL for uploads older than
    # the column: their size is not known without reading the file).
    preview_width: Mapped[int | None] = mapped_column(Integer)
    preview_height: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def available(self) -> bool:
        return self.deleted_at is None and self.expires_at > utcnow()


def record_upload(
    db_session: Session,
    *,
    user_id: int,
    storage_key: str,
    preview_key: str | None = None,
    preview_size: tuple[int, int] | None = None,
    content_type: str,
    size_bytes: int,
    width: int,
    height: int,
) -> Upload:
    retention = timedelta(minutes=get_settings().original_retention_minutes)
    upload = Upload(
        user_id=user_id,
        storage_key=storage_key,
        preview_key=preview_key,
        preview_width=preview_size[0] if preview_size else None,
        preview_height=preview_size[1] if preview_size else None,
        content_type=content_type,
        size_bytes=size_bytes,
        width=width,
        height=height,
        expires_at=utcnow() + retention,
    )
    db_session.add(upload)
    db_session.flush()
    return upload


def find_usable_upload(db_session: Session, *, user_id: int, storage_key: str) -> Upload:
    """The caller's own, still-present original behind `storage_key`, or a 400-class error.

    The row is share-locked until the caller's transaction ends: a racing delete of the last
    headshot made from it (which takes the original with it) either commits first, and this
    sees the upload deleted, or waits and then sees the new headshot still using it.
    """
    upload = db_session.execute(
        select(Upload).where(Upload.storage_key == storage_key, Upload.user_id == user_id)
        .with_for_update(read=True)
    ).scalar_one_or_none()
    if upload is None:
        raise InvalidRequest(
            "imageUrl: not an image uploaded by this user", code="invalid_image_url"
        )
    if not upload.available:
        raise OriginalExpired()
    return upload


def expired_upload_keys(db_session: Session, *, limit: int = 500) -> list[tuple[uuid.UUID, str]]:
    """Originals past their retention that are still stored: (upload id, storage key)."""
    rows = db_session.execute(
        select(Upload.id, Upload.storage_key)
        .where(Upload.deleted_at.is_(None), Upload.expires_at <= utcnow())
        .order_by(Upload.expires_at)
        .limit(limit)
    ).all()
    return [(row.id, row.storage_key) for row in rows]


def mark_upload_deleted(db_session: Session, upload_id: uuid.UUID) -> None:
    upload = db_session.get(Upload, upload_id)
    if upload is not None and upload.deleted_at is None:
        upload.deleted_at = utcnow()
