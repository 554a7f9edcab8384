"""The GetImg call ledger: one row per generation call a worker made, so the cost figures
(docs/analytics.md) add up to what GetImg invoices.

A call GetImg answered with images is billed at the cost it reported (`invoiced`). A call it
accepted and never answered to us (abandoned on a cancel, or timed out) is assumed billed
(§6 "What a cancelled request still costs"), at the last invoiced cost of the same model and
resolution, else at `GETIMG_ASSUMED_CALL_COST_USD` (`assumed`). A call GetImg refused or failed
(4xx, 429, 5xx, no connection) is not billed (`none`). Which outcome is which is the worker's
reading of GetImg (`workers/getimg_calls.py`); this module keeps the rows.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base

ABANDONED = "abandoned"  # the outcome of a call dropped because its job was cancelled
ANSWERED = "answered"  # GetImg answered with images (whatever became of them afterwards)


class CostBasis(enum.StrEnum):
    INVOICED = "invoiced"  # GetImg's usage.total_cost for the call
    ASSUMED = "assumed"  # billed, but GetImg never told us the price
    NONE = "none"  # not billed


class GetImgCall(Base):
    __tablename__ = "getimg_calls"
    __table_args__ = (
        CheckConstraint("cost_basis IN ('invoiced', 'assumed', 'none')",
                        name="cost_basis_known"),
        Index("ix_getimg_calls_ended_at", "ended_at"),
        Index("ix_getimg_calls_generation_id", "generation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation_id: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    style: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(100))
    resolution: Mapped[str] = mapped_column(String(8))
    output_format: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(64))  # ANSWERED, ABANDONED or our error code
    billed: Mapped[bool] = mapped_column(Boolean)
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 4))  # USD
    cost_basis: Mapped[str] = mapped_column(String(10))
    getimg_request_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# One statement: the row, and for a billed call without an invoiced cost, the price of the
# latest invoiced call of the same model and resolution by then (else the configured
# assumption).
_RECORD = text("""
INSERT INTO getimg_calls (generation_id, attempt, style, model, resolution, output_format,
    outcome, billed, cost, cost_basis, getimg_request_id, started_at, ended_at)
SELECT :generation_id, :attempt, :style, :model, :resolution, :output_format, :outcome,
       :billed,
       CASE WHEN NOT :billed THEN 0
            WHEN CAST(:cost AS numeric) IS NOT NULL THEN CAST(:cost AS numeric)
            ELSE COALESCE((SELECT c.cost FROM getimg_calls c
                           WHERE c.cost_basis = 'invoiced' AND c.model = :model
                             AND c.resolution = :resolution AND c.ended_at <= :ended_at
                           ORDER BY c.ended_at DESC LIMIT 1), :assumed_cost) END,
       CASE WHEN NOT :billed THEN 'none'
            WHEN CAST(:cost AS numeric) IS NOT NULL THEN 'invoiced' ELSE 'assumed' END,
       :request_id, :started_at, :ended_at
""")


@dataclass(frozen=True)
class CallRow:
    """One call's row as the worker knows it when the call ends (`cost`: GetImg's, if said)."""

    generation_id: int
    attempt: int
    style: str
    model: str
    resolution: str
    output_format: str
    outcome: str
    billed: bool
    cost: Decimal | None
    request_id: str | None
    started_at: datetime
    ended_at: datetime


def record_call(db_session: Session, call: CallRow, *, assumed_cost: Decimal) -> None:
    """Write the call's row in the caller's transaction."""
    db_session.execute(_RECORD, {**asdict(call), "assumed_cost": assumed_cost})
