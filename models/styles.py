"""Headshot styles: what each costs and how GetImg is asked for it (seeded by a migration)."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.errors import InvalidRequest


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


def list_styles(db_session: Session) -> list[Style]:
    return list(
        db_session.scalars(select(Style).where(Style.active).order_by(Style.sort_order, Style.id))
    )


def get_active_style(db_session: Session, style_id: str) -> Style:
    style = db_session.get(Style, style_id)
    if style is None or not style.active:
        raise InvalidRequest(f"style: unknown style {style_id!r}", code="invalid_style")
    return style
