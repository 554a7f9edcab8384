"""The nightly rollup: a day's headshots per style, idempotent, from real rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from models.analytics import DailyStyleFigures
from models.clock import frozen_clock
from models.events import Event, EventName
from models.job.attempts import claim_job, complete_job
from models.job.endings import cancel_in_flight, fail_job
from services import analytics
from services.pagination import encode_cursor
from services.unit_of_work import read_only, unit_of_work
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _finish(job_id: int, seconds: float | None, code: str | None = None) -> None:
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, job_id)
        assert claimed is not None
        if seconds is not None:
            done = complete_job(
                db_session, job_id, attempt=claimed.attempts, result_keys=[],
                thumbnail_key="thumbnails/1/" + "a" * 32 + ".jpg",
                metadata={"processingTime": seconds, "getimgCost": 0.025})
        else:
            done = fail_job(db_session, job_id, code=code or "x", message="no",
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
            cancel_in_flight(db_session, jobs[5])
            db_session.commit()

    assert analytics.roll_up(day.date()) == 1
    first = _rows(day.date())
    assert analytics.roll_up(day.date()) == 1  # idempotent: the same single row
    again = _rows(day.date())
    row = again["corporate"]
    assert set(again) == {"corporate"} and first["corporate"].id == row.id
    assert (row.total_generations, row.completed, row.failed) == (6, 3, 2)
    assert row.success_rate == Decimal("0.6000")  # 3 of the 5 that ended; the cancel is neither
    assert row.avg_processing_time == 5  # (2 + 4 + 9) / 3
    assert row.p50_processing_time == Decimal("4.000")
    assert Decimal("8.4") <= (row.p95_processing_time or 0) <= Decimal("9")
    assert row.failures_by_code == {"getimg_rejected": 1, "getimg_timeout": 1, "cancelled": 1}
    assert row.getimg_cost == Decimal("0.0750")
    assert (row.credits_charged, row.credits_refunded) == (6, 3)
    assert _rows(day.date().replace(year=2032)) == {}


def test_the_analytics_route_reports_rolled_up_days_and_today(client: Any) -> None:
    day = datetime(2032, random.randint(1, 12), random.randint(1, 28), tzinfo=UTC)
    with frozen_clock(day.replace(hour=14)):
        user_id = funded_user(10)
        key = stored_upload(user_id)
        first, second = (make_job(user_id, key, "queued")["id"] for _ in range(2))
        _finish(first, 3.0)
        _finish(second, None, "getimg_rejected")
        repeat_user = funded_user(5)
        for _ in range(2):
            _finish(make_job(repeat_user, stored_upload(repeat_user), "queued")["id"], 5.0)
        once = funded_user(1)
        _finish(make_job(once, stored_upload(once), "queued")["id"], 4.0)
        # One of the three users opens their history (twice: still one viewer).
        for _ in range(2):
            assert client.get("/api/headshots/history", headers=auth(repeat_user)
                              ).status_code == 200
    analytics.roll_up(day.date())
    iso = day.date().isoformat()
    with frozen_clock(day.replace(hour=23)):  # "today" is the day itself: live rows
        live = client.get(f"/api/admin/analytics?from={iso}&to={iso}", headers=ADMIN)
    with frozen_clock(day + timedelta(days=1)):  # the day after: from the rollup
        response = client.get(f"/api/admin/analytics?from={iso}&to={iso}", headers=ADMIN)
    assert response.status_code == live.status_code == 200, response.get_json()
    body = response.get_json()
    assert live.get_json()["styles"] == body["styles"]  # live figures == the rollup's
    assert body["styles"] == [{
        "style": "corporate", "totalGenerations": 5, "completed": 4, "failed": 1,
        "cancelled": 0, "successRate": 0.8, "avgProcessingTime": 4, "getimgCost": 0.1,
        "creditsCharged": 5, "creditsRefunded": 1}]
    assert [d["date"] for d in body["daily"]] == [iso]
    assert body["peakHours"] == [{"hour": 14, "generations": 5}]
    assert body["repeatUserRate"] == 0.6667 and body["averageHeadshotsPerUser"] == 1.67
    assert body["historyViewRate"] == 0.3333
    assert body["funnel"] == {"started": 5, "completed": 4, "downloaded": 0, "shared": 0}


def history_views(user_id: int) -> list[datetime]:
    with read_only() as db_session:
        return list(db_session.scalars(
            select(Event.created_at).where(Event.user_id == user_id,
                                           Event.name == EventName.HISTORY_VIEWED.value)
            .order_by(Event.id)))


def test_opening_the_history_is_noted_once_a_day(client: Any) -> None:
    user_id = new_user_id()
    day = datetime(2033, random.randint(1, 12), random.randint(1, 28), 10, tzinfo=UTC)
    with frozen_clock(day) as clock:
        for _ in range(3):
            assert client.get("/api/headshots/history", headers=auth(user_id)).status_code == 200
        # A later page is the same visit, not a new one.
        assert client.get(f"/api/headshots/history?cursor={encode_cursor(9)}",
                          headers=auth(user_id)).status_code == 200
        assert history_views(user_id) == [day]
        clock.advance(seconds=24 * 3600)
        assert client.get("/api/headshots/history", headers=auth(user_id)).status_code == 200
    assert history_views(user_id) == [day, day + timedelta(days=1)]


@pytest.mark.parametrize("query", [
    "", "?from=2026-01-01", "?from=2026-02-30&to=2026-03-01", "?from=2026-01-02&to=2026-01-01",
    "?from=2025-01-01&to=2026-01-02", "?from=20260101&to=2026-01-02", "?from=1700000000&to=x",
])
def test_bad_analytics_ranges_are_400(client: Any, query: str) -> None:
    response = client.get(f"/api/admin/analytics{query}", headers=ADMIN)
    assert_error(response, 400)
    assert response.get_json()["error"]["message"].split(":")[0] in {"from", "to"}


# ---- the funnel counts what the service can vouch for ----------------------------------------


def _day_of_its_own() -> datetime:
    """Noon of a random day decades ahead: no other test's events fall on it."""
    return datetime(random.randint(2045, 2095), random.randint(1, 12), random.randint(1, 28),
                    12, tzinfo=UTC)


def _funnel(client: Any, day: datetime) -> dict[str, int]:
    iso = day.date().isoformat()
    response = client.get(f"/api/admin/analytics?from={iso}&to={iso}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    funnel: dict[str, int] = response.get_json()["funnel"]
    return funnel


def _report(client: Any, user_id: int, event: str, generation_id: int | None = None) -> Any:
    body: dict[str, Any] = {"event": event}
    if generation_id is not None:
        body["generationId"] = generation_id
    return client.post("/api/events", headers=auth(user_id), json=body)


def _client_events(user_id: int) -> list[tuple[str, int | None, bool]]:
    with read_only() as db_session:
        return [(name, generation, vouched) for name, generation, vouched in db_session.execute(
            select(Event.name, Event.generation_id, Event.vouched)
            .where(Event.user_id == user_id, Event.source == "client").order_by(Event.id))]


def test_app_reports_without_a_headshot_leave_the_funnel_unchanged(client: Any) -> None:
    """The report of the issue: 40 shares and 30 downloads posted with no generationId moved
    `shared` from 2 to 42 and `downloaded` past `completed`. Kept, not counted."""
    day = _day_of_its_own()
    with frozen_clock(day):
        user_id = funded_user(1)
        make_job(user_id, stored_upload(user_id), "completed")
        before = _funnel(client, day)
        assert before == {"started": 1, "completed": 1, "downloaded": 0, "shared": 0}
        for event, times in (("user_shared", 40), ("headshot_downloaded", 30)):
            for _ in range(times):
                assert _report(client, user_id, event).status_code == 202
        assert _funnel(client, day) == before
    kept = _client_events(user_id)
    assert len(kept) == 70 and {vouched for _, _, vouched in kept} == {False}


def test_a_headshot_counts_once_per_step_whoever_reports_it(client: Any) -> None:
    day = _day_of_its_own()
    with frozen_clock(day):
        user_id = funded_user(3)
        key = stored_upload(user_id)
        done = make_job(user_id, key, "completed")["id"]
        queued = make_job(user_id, key, "queued")["id"]
        # The service's own download and share of `done`, then the app's reports of them, twice.
        assert client.get(f"/api/headshots/{done}/export", headers=auth(user_id)
                          ).status_code == 200
        assert client.post(f"/api/headshots/{done}/share", headers=auth(user_id),
                           json={}).status_code == 201
        for event in ("headshot_downloaded", "user_shared") * 2:
            assert _report(client, user_id, event, done).status_code == 202
        # A download of a job that is only queued: kept, not counted, then or later.
        assert _report(client, user_id, "headshot_downloaded", queued).status_code == 202
        assert _funnel(client, day) == {"started": 2, "completed": 1, "downloaded": 1,
                                        "shared": 1}
        _finish(queued, 3.0)
        assert _funnel(client, day) == {"started": 2, "completed": 2, "downloaded": 1,
                                        "shared": 1}
        assert _report(client, user_id, "headshot_downloaded", queued).status_code == 202
        assert _funnel(client, day) == {"started": 2, "completed": 2, "downloaded": 2,
                                        "shared": 1}
        # Another user's completed headshot: 404 like one that does not exist, nothing kept.
        stranger = new_user_id()
        for event in ("headshot_downloaded", "user_shared"):
            assert_error(_report(client, stranger, event, done), 404)
        assert _client_events(stranger) == []
        assert _funnel(client, day)["downloaded"] == 2
    assert _client_events(user_id) == [
        ("headshot_downloaded", done, True), ("user_shared", done, True),
        ("headshot_downloaded", done, True), ("user_shared", done, True),
        ("headshot_downloaded", queued, False), ("headshot_downloaded", queued, True)]
