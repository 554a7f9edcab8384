"""Giving credits back at the balance cap, raced: a cancel, a delete and a delete-my-data of
one running job at once, for a user who holds exactly the cap (2**31-1 credits, one of them
charged for the job). None is refused for the cap; the job is refunded exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from tests.support.domain import make_job, stored_upload
from tests.support.hostile import tried
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

CAP = 2**31 - 1
ROUNDS = 3  # of each request, all at once


def _user_at_the_cap() -> tuple[int, int]:
    from models.credits import grant_credits
    from models.users import ensure_user
    from services.unit_of_work import unit_of_work

    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=CAP, reason="at the cap")
        db_session.commit()
    return user_id, make_job(user_id, stored_upload(user_id), "queued")["id"]


def _refunds(generation_id: int) -> list[int]:
    from models.credits import CreditEntry, EntryType
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return list(db_session.scalars(
            select(CreditEntry.amount).where(CreditEntry.generation_id == generation_id,
                                             CreditEntry.type == EntryType.REFUND)))


@pytest.mark.parametrize("trial", range(3))
def test_racing_cancels_and_deletes_at_the_cap_refund_once(web: str, trial: int) -> None:
    user_id, job = _user_at_the_cap()
    headers = auth(user_id)
    grant = requests.post(f"{web}/api/admin/users/{user_id}/credits", headers=ADMIN,
                          json={"amount": 1, "reason": "past the cap"}, timeout=30)
    assert grant.status_code == 409 and grant.json()["error"]["code"] == "balance_limit_exceeded"
    calls = [("POST", f"/api/headshots/{job}/cancel"),
             ("DELETE", f"/api/headshots/history/{job}"),
             ("DELETE", "/api/me")] * ROUNDS
    tried("cap refunds", len(calls))

    def call(method_and_path: tuple[str, str]) -> requests.Response:
        method, path = method_and_path
        return requests.request(method, f"{web}{path}", headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(call, calls))
    for (method, path), answer in zip(calls, answers, strict=True):
        # A cancel that comes second finds the job ended (409 already_finished) or gone (404);
        # a delete that comes second finds it gone. Never the cap, never a 5xx.
        assert answer.status_code in (200, 204, 404, 409), (method, path, answer.text)
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "already_finished", answer.text
    assert _refunds(job) == [1]
    me = requests.get(f"{web}/api/me", headers=headers, timeout=30).json()
    assert me["credits"] == CAP
