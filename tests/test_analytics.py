"""The nightly rollup: a day's headshots per style, idempotent, from real rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from models.analytics import DailyStyleFigures
from models.clock import frozen_clock
from models.jobs import cancel_generation, claim_generation, complete_generation, fail_generation
from services import analytics
from services.unit_of_work import read_only, unit_of_work
from tests.hostile.support import funded_user, make_job, stored_upload

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _finish(job_id: int, seconds: float | None, code: str | None = None) -> None:
    with unit_of_work() as db_session:
        claimed = claim_generation(db_session, job_id)
        assert claimed is not None
        if seconds is not None:
            done = complete_generation(
                db_session, job_id, attempt=claimed.attempts, result_keys=[],
                thumbnail_key="thumbnails/1/" + "a" * 32 + ".jpg",
                metadata={"processingTime": seconds, "getimgCost": 0.025})
        else:
            done = fail_generation(db_session, job_id, code=code or "x", message="no",
                                   attempt=claimed.attempts)
        assert done is not None
        db_session.commit()


def _rows(day: Any) -> dict[str, DailyStyleFigures]:
    with read_only() as db_session:
        rows = db_session.scalars(select(DailyStyleFigures)
                                  .where(DailyStyleFigures.date == day))
        return {row.style: row for row in rows}


def test_a_day_rolls_up_per_style_and_twice_is_the_same() -> None:
    # A day of its own, years ahead, so no other test's headshots fall on it.
    day = datetime(2031, 1, 1, tzinfo=UTC).replace(day=random.randint(1, 28),
                                                   month=random.randint(1, 12))
    with frozen_clock(day.replace(hour=9)):
        user_id = funded_user(10)
        key = stored_upload(user_id)
        jobs = [make_job(user_id, key, "queued")["id"] for _ in range(6)]
        for job, seconds in zip(jobs[:3], (2.0, 4.0, 9.0), strict=True):
            _finish(job, seconds)
        _finish(jobs[3], None, "getimg_rejected")
        _finish(jobs[4], None, "getimg_timeout")
        with unit_of_work() as db_session:
            cancel_generation(db_session, jobs[5])
            db_session.commit()

    assert analytics.roll_up(day.date()) == 1
    first = _rows(day.date())
    assert analytics.roll_up(day.date()) == 1  # idempotent: the same single row
    again = _rows(day.date())
    row = again["corporate"]
    assert set(again) == {"corporate"} and first["corporate"].id == row.id
    assert (row.total_generations, row.completed, row.failed) == (6, 3, 2)
    assert row.success_rate == Decimal("60.00")  # 3 of the 5 that ended; the cancel is neither
    assert row.avg_processing_time == 5  # (2 + 4 + 9) / 3
    assert row.p50_processing_time == Decimal("4.000")
    assert Decimal("8.4") <= (row.p95_processing_time or 0) <= Decimal("9")
    assert row.failures_by_code == {"getimg_rejected": 1, "getimg_timeout": 1, "cancelled": 1}
    assert row.getimg_cost == Decimal("0.0750")
    assert (row.credits_charged, row.credits_refunded) == (6, 3)
    assert _rows(day.date().replace(year=2032)) == {}
