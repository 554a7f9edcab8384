"""What the admin dashboard reads besides the analytics report (API guide §8, §14)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.admin_reads import Failure, FailureFilter
from models.admin_reads import failures as read_failures
from services.unit_of_work import read_only


@dataclass(frozen=True)
class FailurePage:
    items: list[Failure]
    next_after: tuple[datetime, int] | None  # the last row's failure time and id; None: the end


def failures(*, failed_from: datetime | None, failed_to: datetime | None, code: str | None,
             style: str | None, user_id: int | None, limit: int,
             after: tuple[datetime, int] | None) -> FailurePage:
    """One page of failed headshots, newest failure first (`FailureFilter` says what the
    filters mean); one extra row tells whether another page follows."""
    where = FailureFilter(failed_from=failed_from, failed_to=failed_to, code=code, style=style,
                          user_id=user_id)
    with read_only() as db_session:
        rows = read_failures(db_session, where, limit=limit + 1, after=after)
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1] if more and rows else None
    return FailurePage(rows, (last.completed_at, last.id) if last and last.completed_at else None)
