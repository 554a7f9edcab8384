"""Each analytics figure as docs/analytics.md (linked from §8) defines it, on a crafted data
set whose expected values are worked out by hand (in the comments beside them).

The data set, on a UTC day D of its own (years ahead, so no other test's rows fall on it):

- user A: a batch of corporate + creative (one request), then a single corporate (a second
  request: A is a repeat user). A's batch corporate completes (4 s); its creative's GetImg call
  is answered and billed ($0.03) but the image is unusable, so that round fails
  (malformed_response, refunded). The single corporate's first call is a 500 (not billed),
  its second is answered ($0.04) and it completes (6 s).
- user B: one batch of corporate + creative (one request, two headshots: not a repeat user).
  Its corporate completes (8 s, $0.05); its creative's call is abandoned by a cancel (billed,
  assumed at the latest invoiced price of the model and resolution: $0.05).
- user C: generates nothing; opens the history and picks styles in the app (active).
- A also opens the history, marks its batch corporate a favorite, picks corporate, downloads
  that headshot through its media URL (twice, plus its thumbnail and a later byte range) and
  the app reports the download; A shares it; B downloads its batch's ZIP.
- Day E = D + 10: A retries the failed creative, which completes (5 s, $0.03).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from media import get_storage
from media.storage import new_key
from models.analytics import FIGURE_COLUMNS, DailyStyleFigures, live_day_figures
from models.clock import FrozenClock, frozen_clock
from models.events import Event, EventName
from models.getimg_calls import ABANDONED, GetImgCall
from models.job.creation import create_jobs
from models.job.endings import cancel_in_flight, retry_job
from models.job.table import Job
from models.styles import get_active_style
from models.uploads import Upload
from services import analytics, jobs
from services.jobs import Claimed
from services.unit_of_work import read_only, unit_of_work
from tests.support.domain import SELFIE, funded_user, signed_url, stored_upload
from tests.support.users import ADMIN, auth, new_user_id
from workers.getimg_calls import CallRecord
from workers.getimg_client import GeneratedImage, GenerationResponse
from workers.getimg_errors import UNAVAILABLE

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _batch(user_id: int, key: str, *styles: str) -> list[int]:
    with unit_of_work() as db_session:
        made = create_jobs(db_session, user_id=user_id, storage_key=key,
                           styles=[get_active_style(db_session, style) for style in styles],
                           aspect_ratio="1:1",
                           new_batch_id=uuid.uuid4() if len(styles) > 1 else None)
        db_session.commit()
        return [job.id for job in made]


def _claim(job_id: int) -> Claimed:
    claimed = jobs.claim(job_id)
    assert claimed is not None
    return claimed


def _answered(job: Claimed, cost: float) -> None:
    """The worker's record of an answered call (written on its own here: the attempt did not
    complete through the worker's completion, which would carry it)."""
    image = GeneratedImage(url="https://getimg.invalid/x", width=1, height=1,
                           mime_type="image/jpeg")
    call = CallRecord(job, resolution="1K", output_format="jpeg")
    call.answered(GenerationResponse(request_id=f"req-{job.id}-{job.attempt}", model=job.model,
                                     images=[image], total_cost=cost))
    call.write_pending()


def _complete(job: Claimed, seconds: float) -> str:
    result = new_key("results", job.user_id, "jpg", 0)
    thumbnail = new_key("thumbnails", job.user_id, "jpg")
    for key in (result, thumbnail):
        get_storage().put(key, SELFIE.read_bytes(), "image/jpeg")
    assert jobs.complete(job, result_keys=[result], thumbnail_key=thumbnail,
                         metadata={"attempts": 1, "processingTime": seconds})
    return result


def _report(client: Any, first: date, last: date) -> dict[str, Any]:
    response = client.get(f"/api/admin/analytics?from={first}&to={last}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _style_selected(client: Any, user_id: int, style: str) -> None:
    assert client.post("/api/events", headers=auth(user_id), json={
        "event": "style_selected", "properties": {"style": style}}).status_code == 202


def _media_get(client: Any, key: str, **headers: str) -> int:
    url = urlsplit(signed_url(key))
    response = client.get(f"{url.path}?{url.query}", headers=headers)
    response.close()
    return int(response.status_code)


def _build_day(client: Any, clock: FrozenClock) -> dict[str, Any]:
    """Day D's data set (the module's docstring); the ids the tests need."""
    a, b, c = funded_user(10), funded_user(10), new_user_id()
    a_corporate, a_creative = _batch(a, stored_upload(a), "corporate", "creative")
    b_corporate, b_creative = _batch(b, stored_upload(b), "corporate", "creative")
    b_batch = _batch_of(b_corporate)

    job = _claim(a_corporate)
    _answered(job, 0.03)
    a_result = _complete(job, 4.0)
    clock.advance(seconds=60)
    job = _claim(a_creative)
    _answered(job, 0.03)  # answered and billed: the image turns out unusable
    jobs.fail(job, "malformed_response", "unusable image", {"attempts": 1})
    clock.advance(seconds=3600)  # 11:00, A's second request
    (a_single,) = _batch(a, stored_upload(a), "corporate")
    job = _claim(a_single)
    CallRecord(job, resolution="1K", output_format="jpeg").ended_without_images(UNAVAILABLE)
    assert jobs.requeue(job, retry_in_seconds=0, code=UNAVAILABLE, message="500")
    job = _claim(a_single)
    _answered(job, 0.04)
    _complete(job, 6.0)
    clock.advance(seconds=60)
    job = _claim(b_corporate)
    _answered(job, 0.05)
    _complete(job, 8.0)
    clock.advance(seconds=60)
    job = _claim(b_creative)
    CallRecord(job, resolution="1K", output_format="jpeg").ended_without_images(ABANDONED)
    with unit_of_work() as db_session:
        assert cancel_in_flight(db_session, b_creative) is not None
        db_session.commit()

    # What the users do.
    with unit_of_work() as db_session:
        db_session.execute(update(Job).where(Job.id == a_corporate).values(is_favorite=True))
        db_session.commit()
    for user_id in (a, c):
        assert client.get("/api/headshots/history", headers=auth(user_id)).status_code == 200
    _style_selected(client, a, "corporate")
    _style_selected(client, c, "creative")
    _style_selected(client, c, "creative")
    _style_selected(client, c, "corporate")
    _style_selected(client, c, "no-such-style")  # not a style: in no style's figures
    thumbnail = _job(a_corporate).thumbnail_key
    assert thumbnail is not None
    assert [_media_get(client, a_result), _media_get(client, a_result),
            _media_get(client, thumbnail),
            _media_get(client, a_result, Range="bytes=100-199")] == [200, 200, 200, 206]
    assert client.post("/api/events", headers=auth(a), json={
        "event": "headshot_downloaded", "generationId": a_corporate}).status_code == 202
    assert client.post(f"/api/headshots/{a_corporate}/share", headers=auth(a),
                       json={}).status_code == 201
    response = client.get(f"/api/headshots/batch/{b_batch}/download", headers=auth(b))
    assert response.status_code == 200 and response.data[:2] == b"PK"
    return {"a": a, "b": b, "c": c, "a_corporate": a_corporate, "a_creative": a_creative,
            "b_creative": b_creative}


def _job(job_id: int) -> Job:
    with read_only() as db_session:
        return db_session.execute(select(Job).where(Job.id == job_id)).scalar_one()


def _batch_of(job_id: int) -> uuid.UUID:
    batch_id = _job(job_id).batch_id
    assert batch_id is not None
    return batch_id


def _day() -> datetime:
    return datetime(random.randint(2100, 2190), random.randint(1, 12), random.randint(1, 18),
                    10, tzinfo=UTC)


def _stored(day: date) -> dict[str, DailyStyleFigures]:
    with read_only() as db_session:
        return {row.style: row for row in db_session.scalars(
            select(DailyStyleFigures).where(DailyStyleFigures.date == day))}


def test_each_figure_of_a_crafted_day(client: Any) -> None:
    day = _day()
    with frozen_clock(day) as clock:
        ids = _build_day(client, clock)
        live = _report(client, day.date(), day.date())
    with frozen_clock(day + timedelta(days=1, minutes=15)):
        assert analytics.roll_up_recent() >= 2  # the nightly run: D is among its days
        body = _report(client, day.date(), day.date())
    for figures in (live, body):  # today's live figures are the rollup's, figure by figure
        assert figures["styles"] == body["styles"] and figures["daily"] == body["daily"]

    # Per style, over rounds that ended in the range; rates are fractions.
    assert body["styles"] == [
        {"style": "corporate", "totalGenerations": 3, "completed": 3, "failed": 0,
         "cancelled": 0, "successRate": 1.0, "avgProcessingTime": 6,  # (4 + 6 + 8) / 3
         "getimgCost": 0.12,  # 0.03 + 0 (the 500) + 0.04 + 0.05
         "creditsCharged": 3, "creditsRefunded": 0},
        {"style": "creative", "totalGenerations": 2, "completed": 0, "failed": 1,
         "cancelled": 1, "successRate": 0.0, "avgProcessingTime": None,
         "getimgCost": 0.08,  # 0.03 (billed, then failed) + 0.05 (abandoned: assumed)
         "creditsCharged": 2, "creditsRefunded": 2}]
    corporate = next(row for row in body["daily"] if row["style"] == "corporate")
    assert corporate["p50ProcessingTime"] == 6.0
    assert corporate["p95ProcessingTime"] == 7.8  # 6 + 0.9 x (8 - 6)
    assert body["processingTime"] == {"average": 6.0, "p50": 6.0, "p95": 7.8}
    assert body["failuresByCode"] == {"cancelled": 1, "malformed_response": 1}

    # Users: A made two requests (a batch, a single), B one (a batch of two styles).
    assert (body["users"], body["requests"], body["headshots"]) == (2, 3, 5)
    assert body["repeatUserRate"] == 0.5  # A of A and B
    assert body["averageHeadshotsPerUser"] == 2.5 and body["averageRequestsPerUser"] == 1.5
    assert body["favoriteUsageRate"] == 0.5  # A of A and B
    assert body["activeUsers"] == 3  # A, B (asked for headshots) and C (history, styles)
    assert body["historyViewRate"] == 0.6667  # A and C of the 3 active users
    assert body["trend"] == [{"date": day.date().isoformat(), "headshots": 5,
                              "activeUsers": 3}]

    # The funnel: A's corporate downloaded through its media URL (noted once for the two
    # GETs; the thumbnail and the later range are not downloads) and reported by the app:
    # one; B's corporate through the ZIP: two.
    assert body["funnel"] == {"started": 5, "completed": 3, "downloaded": 2, "shared": 1}
    with read_only() as db_session:
        media_downloads = db_session.execute(
            select(Event.generation_id).where(
                Event.name == EventName.HEADSHOT_DOWNLOADED.value, Event.source == "service",
                Event.user_id.in_([ids["a"], ids["b"]]))
            .order_by(Event.id)).scalars().all()
    assert len(media_downloads) == 2 and media_downloads[0] == ids["a_corporate"]

    # Style choice against style generated.
    assert body["styleChoice"] == [
        {"style": "corporate", "selections": 2, "selectingUsers": 2,  # A once, C once
         "generated": 3, "generatingUsers": 2},
        {"style": "creative", "selections": 2, "selectingUsers": 1,  # C twice
         "generated": 2, "generatingUsers": 2}]


def test_a_retried_round_and_a_late_change_land_on_their_own_days(client: Any) -> None:
    """A failed round retried the next day and completed is one failure (day D) and one
    success (D + 1). An operator's refund of a ten-day-old headshot (day E = D + 10) is a late
    change: it lands on E, and day D's rolled-up row is still exactly what D's records give
    after it, so nothing of D needs rolling up again (the nightly run covers 3 days only)."""
    day = _day()
    with frozen_clock(day) as clock:
        ids = _build_day(client, clock)
    with frozen_clock(day + timedelta(days=1, minutes=15)):
        analytics.roll_up_recent()
    before = _stored(day.date())
    retried = day + timedelta(days=1)
    with frozen_clock(retried) as clock:
        # The original kept past ORIGINAL_RETENTION_MINUTES, so that the retry can run.
        with unit_of_work() as db_session:
            db_session.execute(update(Upload).where(Upload.user_id == ids["a"])
                               .values(expires_at=retried + timedelta(hours=1)))
            retry_job(db_session, user_id=ids["a"], job_id=ids["a_creative"])
            db_session.commit()
        clock.advance(seconds=30)
        job = _claim(ids["a_creative"])
        assert job.round_asked_at == retried  # the retry's charge starts the round's queue
        _answered(job, 0.03)
        _complete(job, 5.0)
    with frozen_clock(retried + timedelta(days=1, minutes=15)):
        analytics.roll_up_recent()
    late = day + timedelta(days=10)
    with frozen_clock(late):
        response = client.post(f"/api/admin/headshots/{ids['a_corporate']}/refund",
                               headers=ADMIN, json={"reason": "late complaint"})
        assert response.status_code == 200, response.get_json()
    with frozen_clock(late + timedelta(days=1, minutes=15)):
        analytics.roll_up_recent()
        body = _report(client, day.date(), late.date())
        with read_only() as db_session:
            recomputed = {row["style"]: row for row in live_day_figures(db_session, day.date())}
    stored = _stored(day.date())
    assert set(recomputed) == set(stored) == {"corporate", "creative"}
    for style, row in stored.items():
        assert {column: getattr(row, column) for column in FIGURE_COLUMNS} == recomputed[style]
        assert recomputed[style] == {column: getattr(before[style], column)
                                     for column in FIGURE_COLUMNS}  # D as it was first rolled
    assert (stored["creative"].completed, stored["creative"].failed) == (0, 1)
    assert stored["corporate"].credits_refunded == 0
    next_day = _stored(retried.date())["creative"]
    assert (next_day.total_generations, next_day.completed, next_day.failed,
            next_day.success_rate, next_day.credits_charged,
            next_day.getimg_cost) == (0, 1, 0, Decimal("1.0000"), 1, Decimal("0.0300"))
    refund_day = _stored(late.date())["corporate"]
    assert (refund_day.total_generations, refund_day.completed,
            refund_day.credits_refunded) == (0, 0, 1)
    creative = next(style for style in body["styles"] if style["style"] == "creative")
    assert (creative["completed"], creative["failed"], creative["successRate"]) == (1, 1, 0.5)
    assert creative["getimgCost"] == pytest.approx(0.11)  # 0.03 + 0.05 on D, 0.03 on D + 1
    corporate = next(style for style in body["styles"] if style["style"] == "corporate")
    assert (corporate["creditsCharged"], corporate["creditsRefunded"]) == (3, 1)
    assert [(d["date"], d["headshots"]) for d in body["trend"]][::10] == [
        (day.date().isoformat(), 5), (late.date().isoformat(), 0)]


def test_every_call_of_a_headshot_is_in_the_ledger_with_its_billing() -> None:
    """The call ledger's rows for the crafted day: what was billed and on what basis."""
    day = _day()
    user_id = funded_user(3)
    with frozen_clock(day) as clock:
        (job_id,) = _batch(user_id, stored_upload(user_id), "corporate")
        job = _claim(job_id)
        CallRecord(job, resolution="1K", output_format="jpeg").ended_without_images(
            "content_policy_violation")
        jobs.requeue(job, retry_in_seconds=0, code="content_policy_violation", message="no")
        clock.advance(seconds=5)
        job = _claim(job_id)
        CallRecord(job, resolution="2K", output_format="jpeg").ended_without_images(ABANDONED)
        with unit_of_work() as db_session:
            cancel_in_flight(db_session, job_id)
            db_session.commit()
    with read_only() as db_session:
        rows = db_session.scalars(select(GetImgCall).where(GetImgCall.generation_id == job_id)
                                  .order_by(GetImgCall.id)).all()
    assert [(row.attempt, row.outcome, row.billed, row.cost, row.cost_basis, row.resolution)
            for row in rows] == [
        (1, "content_policy_violation", False, Decimal("0.0000"), "none", "1K"),
        # No 2K call was ever invoiced: GETIMG_ASSUMED_CALL_COST_USD's 0.03.
        (2, "abandoned", True, Decimal("0.0300"), "assumed", "2K")]
    assert rows[1].ended_at == day + timedelta(seconds=5)
