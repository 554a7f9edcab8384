"""The worker's record of each GetImg call it made, in the call ledger (models/getimg_calls.py)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from config import get_settings
from models.getimg_calls import CallRow
from models.getimg_calls import record_call as write_call
from services.unit_of_work import unit_of_work


def record_call_in(db_session: Session, call: CallRow) -> None:
    """The call's row in the caller's transaction (the attempt's completion)."""
    write_call(db_session, call,
               assumed_cost=Decimal(str(get_settings().getimg_assumed_call_cost_usd)))


def record_call(call: CallRow) -> None:
    """The call's row in a transaction of its own: a call that ended without images, or one
    whose attempt did not complete (its later steps failed or it was cancelled meanwhile)."""
    with unit_of_work() as db_session:
        record_call_in(db_session, call)
        db_session.commit()
