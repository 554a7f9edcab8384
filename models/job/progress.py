"""The progress bar: the milestones a job stores, and what a reader shows between them.

Pure functions of their arguments (no clock, no settings): the callers pass `now` and how long
a GetImg call usually takes. The estimate has a twin in SQL, beside it, for the transitions that
store what readers show (`attempts.py`, `endings.py`, `reaper.py`); tests check the two agree
to the unit.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, extract, func

from models.job.table import JobStatus

# Stored progress milestones. While the worker waits on GetImg (stored progress in
# [WAITING, RECEIVED)) readers show an estimate that rises towards RECEIVED with elapsed time.
# An attempt stores WAITING with its claim (it calls GetImg milliseconds later), then DONE:
# every stored milestone is a transaction, a publish and a log line, and the steps between
# (reading the original, storing the result) last milliseconds, so none of them is stored.
# RECEIVED is the ceiling the estimate stays below.
PROGRESS_WAITING = 15
PROGRESS_RECEIVED = 85
PROGRESS_DONE = 100
# A transition that freezes the estimate (requeue, fail, the reaper's release) stores the value
# it will show this far ahead: readers keep seeing the rising estimate of the old snapshot until
# the new one is committed and published, and the bar must not step back when it lands.
PROGRESS_FREEZE_LEAD_SECONDS = 1.0


def displayed_progress(status: str, stored: int, progress_at: float, now: float, *,
                       expected_seconds: float) -> int:
    """The progress a reader shows: the stored milestone, or while GetImg works, an estimate.

    The estimate rises from the stored value towards PROGRESS_RECEIVED - 1 as a fixed function
    of the time since the milestone was stored, so consecutive reads never go down, and the next
    milestone the worker stores is never below it.
    """
    if status != JobStatus.PROCESSING or not PROGRESS_WAITING <= stored < PROGRESS_RECEIVED:
        return stored
    elapsed = max(0.0, now - progress_at)
    share = 1.0 - math.exp(-elapsed / expected_seconds)
    return min(PROGRESS_RECEIVED - 1, stored + int((PROGRESS_RECEIVED - 1 - stored) * share))


def displayed_progress_sql(status: Any, stored: Any, progress_at: Any, now: Any, *,
                           expected_seconds: Any) -> Any:
    """`displayed_progress` as a SQL expression of the row's columns and bound values.

    The exponent is capped where 1 - exp(-x) is already 1.0 in double precision: PostgreSQL's
    exp() raises on underflow where Python's returns 0."""
    last = PROGRESS_RECEIVED - 1
    elapsed = func.greatest(0.0, cast(extract("epoch", now - progress_at), Float))
    share = 1.0 - func.exp(-func.least(elapsed / expected_seconds, 50.0))
    estimate = func.least(last, stored + func.floor((last - stored) * share))
    waiting = and_(status == JobStatus.PROCESSING.value,
                   stored >= PROGRESS_WAITING, stored < PROGRESS_RECEIVED)
    return case((waiting, cast(estimate, Integer)), else_=stored)
