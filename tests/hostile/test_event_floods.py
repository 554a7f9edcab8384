"""The app's events, as an attacker (or a buggy app) would send them to the real web process:
floods with no headshot, reports about a job not finished or not theirs, one report replayed.
The funnel counts what the service can vouch for (models/events.py): none of these move it but
the first report about one's own completed headshot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, tried
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

RACERS = 20
STEPS = ("downloaded", "shared")  # the funnel's steps the app can report
EVENTS = ("headshot_downloaded", "user_shared")


def _funnel(web: str) -> dict[str, int]:
    """Today's funnel steps the app reports (the others move with the workers' jobs)."""
    today = datetime.now(UTC).date().isoformat()
    response = requests.get(f"{web}/api/admin/analytics?from={today}&to={today}",
                            headers=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    funnel = response.json()["funnel"]
    return {step: funnel[step] for step in STEPS}


def _post_all(web: str, user_id: int, bodies: list[dict[str, Any]]) -> list[requests.Response]:
    tried("events", len(bodies))
    headers = auth(user_id)

    def post(body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{web}/api/events", headers=headers, json=body, timeout=30)

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(post, bodies))


def _kept(user_id: int) -> list[tuple[str, int | None, bool]]:
    """The user's client-reported events: (name, generation_id, vouched)."""
    from models.events import Event, Source
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return [(name, generation, vouched) for name, generation, vouched in db_session.execute(
            select(Event.name, Event.generation_id, Event.vouched)
            .where(Event.user_id == user_id, Event.source == Source.CLIENT.value))]


def test_forty_of_each_with_no_headshot_leave_the_funnel_unchanged(web: str) -> None:
    user_id = new_user_id()
    before = _funnel(web)
    answers = _post_all(web, user_id, [{"event": event} for event in EVENTS for _ in range(40)])
    assert sorted({answer.status_code for answer in answers}) == [202]
    assert _funnel(web) == before
    kept = _kept(user_id)  # kept for product analysis, not vouched for
    assert len(kept) == 80 and {vouched for _, _, vouched in kept} == {False}


@pytest.mark.parametrize("kind", ["queued", "completed", "failed"])
def test_reports_about_someone_elses_headshot_are_404_and_change_nothing(
        web: str, victim: dict[str, Any], kind: str) -> None:
    """The same §3 404 as a headshot that does not exist (the id is not confirmed); nothing
    kept, no figure moved, the victim's rows untouched."""
    attacker = new_user_id()
    job = victim[kind]["id"]
    missing = 10**16 + job
    before, victims = _funnel(web), footprint(victim["user_id"], media=False)
    answers = _post_all(web, attacker, [{"event": event, "generationId": generation}
                                        for event in EVENTS for generation in (job, missing)
                                        for _ in range(5)])
    for answer in answers:
        body = assert_error(answer, 404, "not_found")
        assert body["error"]["message"] == "no such resource"  # neither id confirmed
    assert _kept(attacker) == []
    assert _funnel(web) == before
    assert_unchanged(victims, footprint(victim["user_id"], media=False))


@pytest.mark.parametrize("kind", ["queued", "failed"])
def test_reports_about_ones_own_unfinished_headshot_are_kept_not_counted(web: str,
                                                                         kind: str) -> None:
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), kind)["id"]
    before = _funnel(web)
    answers = _post_all(web, user_id, [{"event": event, "generationId": job}
                                       for event in EVENTS for _ in range(20)])
    assert sorted({answer.status_code for answer in answers}) == [202]
    assert _funnel(web) == before
    assert sorted(set(_kept(user_id))) == [("headshot_downloaded", job, False),
                                           ("user_shared", job, False)]


def test_a_replayed_report_counts_once(web: str) -> None:
    """Thirty copies of each report about one's own completed headshot, at once: each step
    moves by one, and all sixty are kept."""
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "completed")["id"]
    before = _funnel(web)
    answers = _post_all(web, user_id, [{"event": event, "generationId": job}
                                       for event in EVENTS for _ in range(30)])
    assert sorted({answer.status_code for answer in answers}) == [202]
    assert _funnel(web) == {step: before[step] + 1 for step in STEPS}
    kept = _kept(user_id)
    assert len(kept) == 60 and {vouched for _, _, vouched in kept} == {True}
