"""Deleting a headshot, as an attacker would: many deletes of one job at once, and what stays
reachable afterwards (the original selfie and its upload URL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from tests.conftest import auth
from tests.hostile.support import assert_error, funded_user, make_job, stored_upload, tried

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

RACERS = 20


def _refunds(generation_id: int) -> list[int]:
    from models.credits import CreditEntry, EntryType
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return list(db_session.scalars(
            select(CreditEntry.amount).where(CreditEntry.generation_id == generation_id,
                                             CreditEntry.type == EntryType.REFUND)))


def _balance(user_id: int) -> int:
    from models.users import User
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        user = db_session.get(User, user_id)
        assert user is not None
        return user.credits


@pytest.mark.parametrize("trial", range(4))
@pytest.mark.parametrize("outcome", ["queued", "completed"])
def test_racing_deletes_of_one_job_succeed_exactly_once(web: str, outcome: str,
                                                        trial: int) -> None:
    """20 DELETEs of one job at once: one 204, nineteen §3 404s. A queued job is cancelled and
    refunded by that one delete, once."""
    tried("deletes", RACERS)
    user_id = funded_user(3)  # a user per trial: the trials never share a rate budget
    job = make_job(user_id, stored_upload(user_id), outcome)
    url = f"{web}/api/headshots/history/{job['id']}"
    headers = auth(user_id)

    def delete(_: int) -> requests.Response:
        return requests.delete(url, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        answers = list(pool.map(delete, range(RACERS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [204] + [404] * (RACERS - 1), statuses
    for answer in answers:
        if answer.status_code == 404:
            assert_error(answer, 404, "not_found")
    assert requests.get(url, headers=headers, timeout=10).status_code == 404
    assert _refunds(job["id"]) == ([1] if outcome == "queued" else [])
    assert _balance(user_id) == (3 if outcome == "queued" else 2)
