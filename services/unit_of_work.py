"""The unit of work: one session per use case, rolled back unless the caller commits.

Sessions come from one factory whose `after_commit` hook hands the job changes the domain
recorded in the transaction (`models/job/changes.py`) to `services/after_commit.py`, so every
committed change of a job takes the same path whoever committed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from config import per_settings
from models.credits import take_movements
from models.db import get_engine
from models.job.changes import take_changes
from services.after_commit import handle_committed, ledger_committed


@per_settings
def _session_factory() -> sessionmaker[Session]:
    factory = sessionmaker(bind=get_engine(), expire_on_commit=False)
    event.listen(factory, "after_commit", _committed)
    event.listen(factory, "after_rollback", _rolled_back)
    return factory


# Releasing or rolling back a SAVEPOINT fires these events too: only the outermost transaction
# decides. (A change recorded inside a savepoint that is rolled back stays recorded, and is
# published with its transaction; no job transition runs inside one today.)
def _committed(session: Session) -> None:
    if not session.in_nested_transaction():
        handle_committed(take_changes(session))
        ledger_committed(take_movements(session))


def _rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        take_changes(session)  # a rolled-back change never happened
        take_movements(session)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session whose work is rolled back unless the caller commits it explicitly."""
    session = _session_factory()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@contextmanager
def read_only() -> Iterator[Session]:
    """A unit of work that only reads: what it loaded stays readable once it is closed (the
    closing rollback would otherwise expire it)."""
    with unit_of_work() as session:
        yield session
        session.expunge_all()
