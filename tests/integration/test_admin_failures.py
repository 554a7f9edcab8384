"""`GET /api/admin/failures`: the failed headshots with their error codes, newest failure first
(by when each failed, not by id), filtered and paged by cursor; for operators only; a user's own
cancel is no failure and is left out unless asked for (`code=cancelled`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.clock import frozen_clock
from models.job.endings import cancel_in_flight, fail_job
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, make_job, new_job, stored_upload
from tests.support.errors import assert_error
from tests.support.users import ADMIN, auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def test_the_latest_failures_come_first_with_their_codes(client: Any) -> None:
    user_id = funded_user(5)
    key = stored_upload(user_id)
    older = make_job(user_id, key, "failed")["id"]
    make_job(user_id, key, "completed")
    newer = make_job(user_id, key, "failed")["id"]
    cancelled = make_job(user_id, key, "queued")["id"]
    with unit_of_work() as db_session:
        cancel_in_flight(db_session, cancelled)
        db_session.commit()

    response = client.get(f"/api/admin/failures?limit=2&userId={user_id}", headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    rows = response.get_json()["data"]
    assert [row["id"] for row in rows] == [newer, older]  # no cancel, no completed one
    assert rows[0] == {
        "id": newer, "userId": user_id, "style": "corporate", "errorCode": "getimg_rejected",
        "errorMessage": "the generator refused the photo",
        "completedAt": rows[0]["completedAt"], "refunded": True}
    assert rows[0]["completedAt"].endswith("+00:00")
    assert response.get_json()["nextCursor"] is None  # the user's two failures, both shown


def test_failures_are_for_operators_only(client: Any) -> None:
    assert_error(client.get("/api/admin/failures"), 401)
    assert_error(client.get("/api/admin/failures", headers=auth(funded_user(0))), 403)


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5"])
def test_a_bad_limit_is_400(client: Any, limit: str) -> None:
    assert_error(client.get(f"/api/admin/failures?limit={limit}", headers=ADMIN), 400,
                 field="limit")


# A year no other test fails a job in: the range filters see only this module's failures.
YEAR = 2004


def _failed_at(user_id: int, at: datetime, code: str = "getimg_rejected") -> int:
    """A job of the user made now and failed at `at` (the clock frozen there)."""
    with unit_of_work() as db_session:
        job_id = new_job(db_session, user_id).id
        db_session.commit()
    with frozen_clock(at), unit_of_work() as db_session:
        assert fail_job(db_session, job_id, code=code, message=f"failed with {code}")
        db_session.commit()
    return job_id


def _ids(client: Any, query: str) -> list[int]:
    response = client.get(f"/api/admin/failures?{query}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return [row["id"] for row in response.get_json()["data"]]


def test_newest_failure_first_by_when_it_failed_not_by_id(client: Any) -> None:
    user_id = funded_user(5)
    start = datetime(YEAR, 3, 1, 12, tzinfo=UTC)
    failed_late = _failed_at(user_id, start + timedelta(hours=2))  # the smaller id
    failed_early = _failed_at(user_id, start)
    failed_between = _failed_at(user_id, start + timedelta(hours=1))
    assert failed_late < failed_early < failed_between

    assert _ids(client, f"userId={user_id}") == [failed_late, failed_between, failed_early]


def test_the_filters_each_narrow_the_list(client: Any) -> None:
    user_id, other = funded_user(5), funded_user(5)
    day = datetime(YEAR, 5, 10, tzinfo=UTC)
    morning = _failed_at(user_id, day.replace(hour=8), code="getimg_timeout")
    evening = _failed_at(user_id, day.replace(hour=20))
    next_day = _failed_at(other, day + timedelta(days=1, hours=1))
    the_day = "from=2004-05-10&to=2004-05-10"

    assert _ids(client, the_day) == [evening, morning]  # a day as `to`: all of it
    assert _ids(client, "from=2004-05-10&to=2004-05-11") == [next_day, evening, morning]
    assert _ids(client, "from=2004-05-10T12:00:00Z&to=2004-05-11T00:30:00%2B00:00") == [evening]
    assert _ids(client, f"{the_day}&code=getimg_timeout") == [morning]
    assert _ids(client, f"from=2004-05-10&to=2004-05-11&userId={other}") == [next_day]
    assert _ids(client, f"{the_day}&style=corporate") == [evening, morning]
    assert _ids(client, f"{the_day}&style=casual") == []


def test_the_cursor_pages_through_every_failure_once(client: Any) -> None:
    user_id = funded_user(10)
    start = datetime(YEAR, 7, 1, tzinfo=UTC)
    same_moment = start + timedelta(hours=5)  # two failing at one instant: the id decides
    made = [_failed_at(user_id, start + timedelta(hours=hour)) for hour in (3, 1, 4)]
    made += [_failed_at(user_id, same_moment), _failed_at(user_id, same_moment)]
    expected = [made[4], made[3], made[2], made[0], made[1]]

    seen, cursor = [], ""
    for _ in range(5):
        page = client.get(f"/api/admin/failures?userId={user_id}&limit=2{cursor}",
                          headers=ADMIN).get_json()
        seen += [row["id"] for row in page["data"]]
        if page["nextCursor"] is None:
            break
        cursor = f"&cursor={page['nextCursor']}"
    assert seen == expected


def test_code_cancelled_lists_the_users_own_cancels(client: Any) -> None:
    user_id = funded_user(5)
    key = stored_upload(user_id)
    cancelled = make_job(user_id, key, "queued")["id"]
    with unit_of_work() as db_session:
        cancel_in_flight(db_session, cancelled)
        db_session.commit()
    assert _ids(client, f"userId={user_id}") == []
    assert _ids(client, f"userId={user_id}&code=cancelled") == [cancelled]


@pytest.mark.parametrize(("query", "field"), [
    ("from=2004-13-01", "from"), ("from=yesterday", "from"), ("to=2004-02-30", "to"),
    ("from=2004-05-10T12:00:00", "from"),  # no UTC offset
    ("from=2004-05-11&to=2004-05-10", "to"), ("code=getimg%20timeout", "code"),
    ("code=" + "x" * 65, "code"), ("style=" + "s" * 51, "style"), ("userId=0", "userId"),
    ("userId=x", "userId"), ("userId=" + "9" * 19, "userId"), ("cursor=nonsense", "cursor"),
    ("cursor=aWQ6NQ", "cursor"),  # an id cursor of another list: not this one's
    ("cursor=YXQ6OTk5OTk5OTk5OTk5OTk5OTk5OjE", "cursor"),  # "at:" 18 nines: past year 9999
    ("to=9999-12-31T23:00:00-05:00", "to"), ("from=0001-01-01T00:00:00%2B05:00", "from"),
    ("from=%00", "from"),
])
def test_a_bad_filter_is_400_naming_it(client: Any, query: str, field: str) -> None:
    assert_error(client.get(f"/api/admin/failures?{query}", headers=ADMIN), 400, field=field)
