"""The worker's record of each GetImg call it made, in the call ledger (models/getimg_calls.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from config import get_settings
from models.getimg_calls import record_call as write_call
from services.unit_of_work import unit_of_work


def record_call(*, generation_id: int, attempt: int, style: str, model: str, resolution: str,
                output_format: str, outcome: str, billed: bool, cost: float | None,
                request_id: str | None, started_at: datetime, ended_at: datetime) -> None:
    """One transaction, right after the call ends: its cost is known then, and none of the
    attempt's later steps (storing, failing, stopping on a cancel) can lose it."""
    assumed = Decimal(str(get_settings().getimg_assumed_call_cost_usd))
    with unit_of_work() as db_session:
        write_call(db_session, generation_id=generation_id, attempt=attempt, style=style,
                   model=model, resolution=resolution, output_format=output_format,
                   outcome=outcome, billed=billed,
                   cost=None if cost is None else Decimal(str(cost)),
                   assumed_cost=assumed, request_id=request_id, started_at=started_at,
                   ended_at=ended_at)
        db_session.commit()
