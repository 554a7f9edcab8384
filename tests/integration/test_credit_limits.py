"""A grant that would take a balance past what `users.credits` (a 32-bit INTEGER) holds.

Found while probing inputs for the OpenAPI/schemathesis work: the UPDATE overflowed in
PostgreSQL ("integer out of range") and the admin got a 500. Now a 409 that changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from services.unit_of_work import unit_of_work
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

INT32_MAX = 2**31 - 1


def test_a_grant_past_the_largest_balance_is_refused_not_a_500(client: Any) -> None:
    user_id = new_user_id()
    near = INT32_MAX - 10
    with unit_of_work() as db_session:  # a balance near the limit, with the ledger to match
        db_session.execute(text("INSERT INTO users (id, credits) VALUES (:u, :c)"),
                           {"u": user_id, "c": near})
        db_session.execute(text(
            "INSERT INTO credit_histories (user_id, type, amount, balance_after, description) "
            "VALUES (:u, 'grant', :c, :c, 'near the limit')"), {"u": user_id, "c": near})
        db_session.commit()
    response = client.post(f"/api/admin/users/{user_id}/credits", headers=ADMIN,
                           json={"amount": 1_000_000, "reason": "one grant too many"})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "balance_limit_exceeded"
    me = client.get("/api/me", headers=auth(user_id)).get_json()
    assert me["credits"] == near


# ---- giving back is never refused for the cap -------------------------------------------------
# The cap counts what a user holds: the balance and the credits their headshots were charged
# (`total_credits_spent`), so a grant cannot leave a refund nowhere to go. These users hold
# exactly INT32_MAX: a grant is refused, and every path that gives credits back succeeds.


def _at_the_cap(outcome: str) -> tuple[int, int]:
    """A user granted INT32_MAX credits with one job (`outcome`) charged 1 of them."""
    from models.credits import grant_credits
    from models.users import ensure_user
    from tests.support.domain import make_job, stored_upload

    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=INT32_MAX, reason="at the cap")
        db_session.commit()
    job = make_job(user_id, stored_upload(user_id), outcome)["id"]
    return user_id, job


def _balance(client: Any, user_id: int) -> int:
    me = client.get("/api/me", headers=auth(user_id)).get_json()
    return int(me["credits"])


def _grant_is_refused(client: Any, user_id: int) -> None:
    response = client.post(f"/api/admin/users/{user_id}/credits", headers=ADMIN,
                           json={"amount": 1, "reason": "past the cap"})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "balance_limit_exceeded"


def test_a_grant_is_refused_while_a_running_job_holds_the_last_credit(client: Any) -> None:
    """The state of the report (a balance at the cap with a job that may be refunded) can no
    longer be reached: the grant that would make it is the one refused."""
    user_id, _ = _at_the_cap("queued")
    assert _balance(client, user_id) == INT32_MAX - 1
    _grant_is_refused(client, user_id)
    assert _balance(client, user_id) == INT32_MAX - 1


def test_cancelling_at_the_cap_refunds(client: Any) -> None:
    user_id, job = _at_the_cap("queued")
    response = client.post(f"/api/headshots/{job}/cancel", headers=auth(user_id))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["error"]["code"] == "cancelled"
    assert _balance(client, user_id) == INT32_MAX
    _grant_is_refused(client, user_id)


def test_deleting_a_running_headshot_at_the_cap_refunds(client: Any) -> None:
    user_id, job = _at_the_cap("queued")
    response = client.delete(f"/api/headshots/history/{job}", headers=auth(user_id))
    assert response.status_code == 204, response.get_json()
    assert _balance(client, user_id) == INT32_MAX


def test_deleting_my_data_at_the_cap_refunds(client: Any) -> None:
    user_id, job = _at_the_cap("queued")
    response = client.delete("/api/me", headers=auth(user_id))
    assert response.status_code == 204, response.get_json()
    assert _balance(client, user_id) == INT32_MAX
    assert client.get(f"/api/headshots/history/{job}", headers=auth(user_id)).status_code == 404


def test_an_operator_refund_at_the_cap_is_given(client: Any) -> None:
    user_id, job = _at_the_cap("completed")
    _grant_is_refused(client, user_id)
    response = client.post(f"/api/admin/headshots/{job}/refund", headers=ADMIN,
                           json={"reason": "bad result"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["balance"] == INT32_MAX
    assert _balance(client, user_id) == INT32_MAX


def test_a_failure_at_the_cap_refunds(client: Any) -> None:
    user_id, _ = _at_the_cap("failed")  # the worker's failure refunds in its transaction
    assert _balance(client, user_id) == INT32_MAX


def test_a_grant_may_fill_what_the_user_holds_up_to_the_cap(client: Any) -> None:
    user_id, _ = _at_the_cap("completed")
    with unit_of_work() as db_session:  # the holding one short of the cap, ledger to match
        db_session.execute(text(
            "INSERT INTO credit_histories (user_id, type, amount, balance_after, description) "
            "SELECT id, 'grant', -1, credits - 1, 'one back' FROM users WHERE id = :u"),
            {"u": user_id})
        db_session.execute(text("UPDATE users SET credits = credits - 1 WHERE id = :u"),
                           {"u": user_id})
        db_session.commit()
    response = client.post(f"/api/admin/users/{user_id}/credits", headers=ADMIN,
                           json={"amount": 1, "reason": "exactly to the cap"})
    assert response.status_code == 201, response.get_json()
    assert _balance(client, user_id) == INT32_MAX - 1  # the other credit is the job's
    _grant_is_refused(client, user_id)
