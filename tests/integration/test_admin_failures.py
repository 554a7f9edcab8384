"""`GET /api/admin/failures`: the latest failed headshots with their error codes, for operators
only; a user's own cancel is no failure and is left out."""

from __future__ import annotations

from typing import Any

import pytest

from models.job.endings import cancel_in_flight
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, make_job, stored_upload
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

    response = client.get("/api/admin/failures?limit=2", headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    rows = response.get_json()["data"]
    assert [row["id"] for row in rows] == [newer, older]  # no cancel, no completed one
    assert rows[0] == {
        "id": newer, "userId": user_id, "style": "corporate", "errorCode": "getimg_rejected",
        "errorMessage": "the generator refused the photo",
        "completedAt": rows[0]["completedAt"], "refunded": True}
    assert rows[0]["completedAt"].endswith("+00:00")


def test_failures_are_for_operators_only(client: Any) -> None:
    assert_error(client.get("/api/admin/failures"), 401)
    assert_error(client.get("/api/admin/failures", headers=auth(funded_user(0))), 403)


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5"])
def test_a_bad_limit_is_400(client: Any, limit: str) -> None:
    assert_error(client.get(f"/api/admin/failures?limit={limit}", headers=ADMIN), 400,
                 field="limit")
