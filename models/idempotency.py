"""Idempotency keys: the same key and request return the first result instead of doing it twice.

A key is reserved inside the transaction that does the work, by an INSERT that waits on the
unique index for any concurrent request with the same key, so two racing requests cannot both
charge: the second sees the first's committed row (or, if the first rolled back, does the work
itself). Only successful work is remembered; an error leaves the key free to use again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.errors import Conflict

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("uq_idempotency_keys_user_key", "user_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, *, operation: str, body: Any) -> IdempotentRequest:
        canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
        return cls(key=key, fingerprint=hashlib.sha256(canonical.encode()).hexdigest())


def reserve_key(db_session: Session, *, user_id: int, request: IdempotentRequest
                ) -> IdempotencyKey | None:
    """Reserve the key for this request; or return the earlier request's row that holds it.

    An expired key is taken over as if it were new.
    """
    now = utcnow()
    fresh = {"fingerprint": request.fingerprint, "resource_id": None, "created_at": now,
             "expires_at": now + KEY_LIFETIME}
    statement = (
        insert(IdempotencyKey)
        .values(user_id=user_id, key=request.key, **fresh)
        .on_conflict_do_update(index_elements=["user_id", "key"], set_=fresh,
                               where=IdempotencyKey.expires_at < now)
        .returning(IdempotencyKey.id)
    )
    if db_session.execute(statement).scalar_one_or_none() is not None:
        return None
    earlier = db_session.execute(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                     IdempotencyKey.key == request.key)
    ).scalar_one()
    if earlier.fingerprint != request.fingerprint:
        raise Conflict("this Idempotency-Key was already used with a different request",
                       code="idempotency_key_reused")
    return earlier


def record_result(db_session: Session, *, user_id: int, request: IdempotentRequest,
                  resource_id: str) -> None:
    db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == request.key)
        .values(resource_id=resource_id)
    )


def forget_result(db_session: Session, *, user_id: int, resource_id: str) -> None:
    """Free the key whose work was undone (e.g. its job never reached the queue)."""
    db_session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                     IdempotencyKey.resource_id == resource_id)
    )


def purge_expired_keys(db_session: Session) -> int:
    result = db_session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
