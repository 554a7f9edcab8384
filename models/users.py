"""Users as the main app knows them: created on first sight of a valid token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("credits >= 0", name="credits_not_negative"),
        # Support finds a user by email whatever its case (models/support_reads.py).
        Index("ix_users_email_lower", func.lower(text("email"))),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    email: Mapped[str | None] = mapped_column(String(320))
    credits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_headshots_generated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_credits_spent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def register_user(db_session: Session, *, user_id: int, email: str | None = None) -> None:
    """What `ensure_user` guarantees (the row exists, with this email when one is given), in
    one statement and without loading the row: for the write paths, which only need it there.
    An unchanged email is not rewritten (the WHERE), but with an email the existing row stays
    locked until the transaction ends (ON CONFLICT DO UPDATE locks it either way): call it
    with one only after the job rows the transaction changes are locked (the lock order,
    `models/credits.py`). Without an email, the row is not locked."""
    statement = insert(User).values(id=user_id, email=email)
    if email:
        statement = statement.on_conflict_do_update(
            index_elements=["id"], set_={"email": statement.excluded.email},
            where=User.email.is_distinct_from(statement.excluded.email),
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["id"])
    db_session.execute(statement)


def ensure_user(db_session: Session, *, user_id: int, email: str | None = None) -> User:
    """Return the user, creating it with 0 credits the first time its id is seen."""
    db_session.execute(
        insert(User).values(id=user_id, email=email).on_conflict_do_nothing(index_elements=["id"])
    )
    user = db_session.execute(select(User).where(User.id == user_id)).scalar_one()
    if email and user.email != email:
        user.email = email
    return user
