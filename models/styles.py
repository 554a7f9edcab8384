"""Headshot styles: what each costs and how GetImg is asked for it (seeded by a migration)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Boolean, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.errors import InvalidRequest

# How long a process keeps the active styles it read: a style made inactive (or repriced) is
# refused (or charged anew) by every process within this many seconds. Accepting a job reads
# them on every request; the table changes a few times a year.
ACTIVE_STYLES_SECONDS = 5.0


class Style(Base):
    __tablename__ = "styles"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(100))
    credit_cost: Mapped[int] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


@dataclass(frozen=True)
class OfferedStyle:
    """What charging for a style needs: its id, its name (the ledger's description) and cost.
    Immutable, so one copy serves every request and thread of the process."""

    id: str
    name: str
    credit_cost: int


def list_styles(db_session: Session) -> list[Style]:
    return list(
        db_session.scalars(select(Style).where(Style.active).order_by(Style.sort_order, Style.id))
    )


def get_active_style(db_session: Session, style_id: str) -> OfferedStyle:
    style = _active_styles.read(db_session).get(style_id)
    if style is None:
        raise InvalidRequest(f"style: unknown style {style_id!r}", code="invalid_style")
    return style


class _ActiveStyles:
    """The active styles as last read, read again once ACTIVE_STYLES_SECONDS have passed."""

    def __init__(self) -> None:
        self._styles: dict[str, OfferedStyle] = {}
        self._read_at = -ACTIVE_STYLES_SECONDS  # monotonic time; never read yet
        self._reading = threading.Lock()

    def read(self, db_session: Session) -> dict[str, OfferedStyle]:
        if time.monotonic() - self._read_at < ACTIVE_STYLES_SECONDS:
            return self._styles
        with self._reading:  # one request reads them; the others wait a moment for it
            if time.monotonic() - self._read_at >= ACTIVE_STYLES_SECONDS:
                rows = db_session.execute(
                    select(Style.id, Style.name, Style.credit_cost).where(Style.active)).all()
                self._styles = {row.id: OfferedStyle(row.id, row.name, row.credit_cost)
                                for row in rows}
                self._read_at = time.monotonic()
        return self._styles

    def forget(self) -> None:
        """Read them again on the next request (tests that change a style)."""
        self._read_at = -ACTIVE_STYLES_SECONDS


_active_styles = _ActiveStyles()
forget_active_styles = _active_styles.forget
