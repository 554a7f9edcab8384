"""What the admin dashboard reads besides the analytics report (contract §8)."""

from __future__ import annotations

from models.admin_reads import Failure
from models.admin_reads import recent_failures as read_failures
from services.unit_of_work import read_only


def recent_failures(*, limit: int) -> list[Failure]:
    """The latest failed headshots with their error codes, newest first."""
    with read_only() as db_session:
        return read_failures(db_session, limit=limit)
