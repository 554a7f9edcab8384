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
