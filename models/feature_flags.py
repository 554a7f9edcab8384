"""Feature flags (§14): which users a feature is on for, and THE rule that decides it.

A user is in a flag when the flag is enabled and the user is on its allow-list or falls in its
percentage. Falling in the percentage is decided by the user's bucket, a stable hash of the
flag's name and the user's id (`bucket`): the same user stays in (or out) across requests,
processes and deploys, raising the percentage only adds users, and each flag picks its own users.

A flag without a row is on for everyone: a feature ships on, and a row is written only when an
operator first turns it down. The names are fixed (`FIXED_FLAGS`) plus `style:<id>` for every
style in the styles table; no other name can be given a row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, SmallInteger, String, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.styles import Style

FIXED_FLAGS = ("batch", "export", "share", "push")
STYLE_PREFIX = "style:"
BUCKETS = 10_000  # a percentage is honoured to the hundredth
MAX_NAME_LENGTH = len(STYLE_PREFIX) + 50  # a style id is at most 50 characters


class FeatureFlag(Base):
    __tablename__ = "feature_flags"
    __table_args__ = (CheckConstraint("percentage BETWEEN 0 AND 100", name="percentage"),)

    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    percentage: Mapped[int] = mapped_column(SmallInteger)
    users: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[int | None] = mapped_column(BigInteger)


@dataclass(frozen=True)
class FlagState:
    """One flag as the rule reads it: immutable, so one copy serves every request and thread."""

    name: str
    enabled: bool
    percentage: int
    users: frozenset[int]
    updated_at: datetime | None = None  # None: no row, the default
    updated_by: int | None = None

    @classmethod
    def default(cls, name: str) -> FlagState:
        """A flag no operator has touched: on for everyone."""
        return cls(name, enabled=True, percentage=100, users=frozenset())

    def is_on_for(self, user_id: int) -> bool:
        """THE rule: enabled, and the user is listed or falls in the percentage."""
        if not self.enabled:
            return False
        return user_id in self.users or bucket(self.name, user_id) < self.percentage * 100


def bucket(flag_name: str, user_id: int) -> int:
    """The user's place in the flag's rollout, 0..9999: the first 8 bytes of
    sha256("<flag name>:<user id in decimal>") as a big-endian unsigned integer, mod 10,000.
    The flag's name is in the hash so that a 10 % flag and another 10 % flag pick different
    users (otherwise the same tenth of users would try every new feature first)."""
    digest = hashlib.sha256(f"{flag_name}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def style_flag(style_id: str) -> str:
    return f"{STYLE_PREFIX}{style_id}"


def known_flag_names(db_session: Session) -> list[str]:
    """The fixed flags, then one per style (inactive styles included: a style coming back
    keeps its flag)."""
    style_ids = db_session.scalars(select(Style.id).order_by(Style.sort_order, Style.id))
    return [*FIXED_FLAGS, *(style_flag(style_id) for style_id in style_ids)]


def read_flags(db_session: Session) -> dict[str, FlagState]:
    """Every flag that has a row; a name missing here takes `FlagState.default`."""
    return {row.name: _state(row) for row in db_session.scalars(select(FeatureFlag))}


def set_flag(db_session: Session, name: str, *, enabled: bool, percentage: int | None,
             users: list[int] | None, operator_id: int) -> tuple[FlagState, FlagState]:
    """Write the flag (locked, so two operators' changes queue); what is left out keeps its
    value. Returns the flag before and after. The caller checked the name is known."""
    row = db_session.get(FeatureFlag, name, with_for_update=True)
    before = FlagState.default(name) if row is None else _state(row)
    if row is None:
        row = FeatureFlag(name=name)
        db_session.add(row)
    row.enabled = enabled
    row.percentage = before.percentage if percentage is None else percentage
    row.users = sorted(before.users) if users is None else sorted(set(users))
    row.updated_at = utcnow()
    row.updated_by = operator_id
    db_session.flush()
    return before, _state(row)


def _state(row: FeatureFlag) -> FlagState:
    return FlagState(row.name, row.enabled, row.percentage, frozenset(row.users),
                     row.updated_at, row.updated_by)
