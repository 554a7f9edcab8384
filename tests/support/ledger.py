"""The money invariant: every balance is the sum of its ledger and never negative."""

from __future__ import annotations


def assert_ledger_consistent() -> None:
    from models.credits import ledger_mismatches
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        assert ledger_mismatches(db_session) == []


def ledger_of_job(generation_id: int) -> list[int]:
    """The credit movements of one job, oldest first (a charge is -cost, a refund +cost)."""
    from sqlalchemy import select

    from models.credits import CreditEntry
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return list(db_session.scalars(select(CreditEntry.amount)
                                       .where(CreditEntry.generation_id == generation_id)
                                       .order_by(CreditEntry.id)))
