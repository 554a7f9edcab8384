"""History and credit-ledger listings: cursor pagination, filters, absurd parameters."""

from __future__ import annotations

from typing import Any

import pytest

from models.job.table import Job, JobStatus
from services.unit_of_work import unit_of_work
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.errors import assert_error
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _user_with_jobs(client: Any, styles: list[str]) -> tuple[int, list[int]]:
    user_id = new_user_id()
    grant(client, user_id, 20)
    url = uploaded_url(client, user_id)
    ids = []
    for style in styles:
        response = generate(client, user_id, url, style=style)
        assert response.status_code == 202
        ids.append(response.get_json()["id"])
    return user_id, ids


def test_history_pages_newest_first_with_a_cursor(client: Any) -> None:
    user_id, ids = _user_with_jobs(client, ["corporate", "creative", "model", "corporate",
                                            "casual"])
    seen: list[int] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/api/headshots/history" + query, headers=auth(user_id)).get_json()
        assert len(page["data"]) <= 2
        seen += [item["id"] for item in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    default = client.get("/api/headshots/history", headers=auth(user_id)).get_json()
    assert len(default["data"]) == 5 and default["nextCursor"] is None


def test_history_filters(client: Any) -> None:
    user_id, ids = _user_with_jobs(client, ["corporate", "creative", "corporate"])
    with unit_of_work() as db_session:
        row = db_session.get(Job, ids[1])
        assert row is not None
        row.is_favorite = True
        db_session.commit()

    def listed(query: str) -> list[int]:
        response = client.get("/api/headshots/history?" + query, headers=auth(user_id))
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["data"]]

    assert listed("style=corporate") == [ids[2], ids[0]]
    assert listed("favorite=true") == [ids[1]]
    assert listed("favorite=false") == [ids[2], ids[0]]
    assert listed("status=queued") == list(reversed(ids))
    assert listed(f"status={JobStatus.COMPLETED}") == []
    assert listed("style=unheard-of") == []


@pytest.mark.parametrize("query", [
    "limit=-1", "limit=0", "limit=101", "limit=1000000000", "limit=abc", "cursor=garbage!",
    "cursor=" + "A" * 300, "cursor=aWQ6LTE", "status=done", "favorite=maybe",
    "style=" + "x" * 51, "limit=1e3", "cursor=%00",
])
def test_absurd_history_queries_are_400(client: Any, query: str) -> None:
    response = client.get("/api/headshots/history?" + query, headers=auth(new_user_id()))
    body = assert_error(response, 400, "invalid_request")
    assert query.split("=")[0] in body["error"]["message"]


def test_credit_history_filters_and_pages(client: Any) -> None:
    user_id, ids = _user_with_jobs(client, ["corporate", "model"])
    grant(client, user_id, 1)

    def listed(query: str) -> dict[str, Any]:
        response = client.get("/api/credits/history?" + query, headers=auth(user_id))
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    headshots = listed("type=headshot")["data"]
    assert [(e["amount"], e["generationId"]) for e in headshots] == [(-2, ids[1]), (-1, ids[0])]
    assert [e["amount"] for e in listed("type=grant")["data"]] == [1, 20]
    first = listed("limit=3")
    assert len(first["data"]) == 3 and first["nextCursor"]
    rest = listed(f"limit=3&cursor={first['nextCursor']}")
    assert len(rest["data"]) == 1 and rest["nextCursor"] is None
    balances = [e["balanceAfter"] for e in first["data"] + rest["data"]]
    assert balances == [18, 17, 19, 20]
    assert me(client, user_id)["credits"] == 18
    assert_error(client.get("/api/credits/history?type=bonus", headers=auth(user_id)), 400)


@pytest.mark.parametrize("body", [
    {"amount": 0, "reason": "x"}, {"amount": -5, "reason": "x"}, {"amount": 1.5, "reason": "x"},
    {"amount": "5", "reason": "x"}, {"amount": True, "reason": "x"},
    {"amount": 10**7, "reason": "x"}, {"amount": 5}, {"amount": 5, "reason": ""},
])
def test_bad_grants_are_400_and_change_nothing(client: Any, body: dict[str, Any]) -> None:
    user_id = new_user_id()
    response = client.post(f"/api/admin/users/{user_id}/credits", headers=ADMIN, json=body)
    assert_error(response, 400, "invalid_request")
    assert me(client, user_id)["credits"] == 0


def test_grant_returns_the_new_balance(client: Any) -> None:
    user_id = new_user_id()
    assert grant(client, user_id, 7) == {"userId": user_id, "balance": 7}
    assert grant(client, user_id, 3) == {"userId": user_id, "balance": 10}
