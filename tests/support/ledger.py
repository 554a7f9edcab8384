"""The money invariant: every balance is the sum of its ledger and never negative."""

from __future__ import annotations


def assert_ledger_consistent() -> None:
    from models.credits import ledger_mismatches
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        assert ledger_mismatches(db_session) == []
