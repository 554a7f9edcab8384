"""The one path every committed change of a job takes.

The domain calls `record_change` with the job's new state, inside the transaction that makes
the change (every transition of `models/jobs.py`, creation and deletion). Whatever must be
atomic with the change is written here, in that transaction; what cannot be (the Redis status
publish, and later metrics and webhook kicks) is collected on the session and handed, once the
transaction has committed, to the unit of work's after-commit handler
(`services/after_commit.py`). A rolled-back transaction's changes are dropped unseen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.generations import HeadshotGeneration
from models.snapshot import StatusSnapshot

PENDING = "headshots.job_changes"  # key in Session.info


class Change(enum.StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    PROGRESSED = "progressed"
    REQUEUED = "requeued"
    COMPLETED = "completed"
    FAILED = "failed"  # refunded in the same transaction
    RETRIED = "retried"  # back in the queue for a new, charged round
    DELETED = "deleted"


@dataclass(frozen=True)
class JobChange:
    change: Change
    snapshot: StatusSnapshot


def record_change(db_session: Session, generation: HeadshotGeneration, change: Change
                  ) -> None:
    """Record that `generation` just took `change` in this session's transaction."""
    db_session.info.setdefault(PENDING, []).append(
        JobChange(change, StatusSnapshot.of(generation))
    )


def take_changes(db_session: Session) -> list[JobChange]:
    """The changes recorded since the last commit or rollback, in order; forgets them."""
    changes: list[JobChange] = db_session.info.pop(PENDING, [])
    return changes
