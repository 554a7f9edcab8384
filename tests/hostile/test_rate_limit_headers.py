"""Visible limits (§12): every answer of a rate-limited route, the 429 too, says where the
caller stands: `RateLimit-Limit` (the budget), `RateLimit-Remaining` (counting down by one per
request) and `RateLimit-Reset` (seconds until the window ends). A flood runs each budget down
to the 429, whose headers say 0 remaining; the reads without a budget carry none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from limits import parse

from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import send
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

Request = Callable[[Any, int], Any]  # (client, user id) -> the answer


def _budget(setting: str) -> int:
    from config import get_settings

    value = getattr(get_settings(), setting)
    return value if isinstance(value, int) else int(parse(value).amount)


def _standing(answer: Any) -> tuple[int, int, int]:
    headers = answer.headers
    missing = [name for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
               if name not in headers]
    assert not missing, (answer.status_code, missing)
    return (int(headers["RateLimit-Limit"]), int(headers["RateLimit-Remaining"]),
            int(headers["RateLimit-Reset"]))


def _write(client: Any, user_id: int) -> Any:
    return send(client, "DELETE", "/api/headshots/history/1", theme="rate-limit headers",
                headers=auth(user_id))


def _event(client: Any, user_id: int) -> Any:
    return send(client, "POST", "/api/events", theme="rate-limit headers",
                headers=auth(user_id), json={})


def _export(client: Any, user_id: int) -> Any:
    return send(client, "GET", "/api/headshots/1/export", theme="rate-limit headers",
                headers=auth(user_id))


def _admin(client: Any, user_id: int) -> Any:
    return send(client, "POST", f"/api/admin/users/{user_id}/credits",
                theme="rate-limit headers", headers=auth(user_id, role="admin"),
                json={"amount": 0, "reason": "counted"})


ROUTES: dict[str, tuple[Request, str]] = {
    "writes": (_write, "rate_limit_writes"),
    "events": (_event, "rate_limit_events"),
    "exports": (_export, "rate_limit_exports"),
    "admin": (_admin, "rate_limit_admin"),
}


def _runs_down_to_the_429(client: Any, request: Request, user_id: int, budget: int) -> None:
    """Each answer's Remaining is one less than the one before (or the whole budget again,
    less one, if the clock minute turned between them, its Reset then larger), until the 429,
    whose headers say 0 remaining."""
    earlier: tuple[int, int, int] | None = None
    for _ in range(2 * budget + 2):  # a window turning half-way gives a whole budget more
        answer = request(client, user_id)
        limit, remaining, reset = _standing(answer)
        assert limit == budget and 0 <= reset <= 60, (limit, reset)
        if answer.status_code == 429:
            assert remaining == 0 and earlier is not None and earlier[1] == 0
            assert_error(answer, 429, "rate_limited")
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
            return
        if earlier is None:
            assert remaining == budget - 1  # a new user's first request
        elif remaining != earlier[1] - 1:
            assert remaining == budget - 1 and reset >= earlier[2], "not counting down"
        earlier = (limit, remaining, reset)
    pytest.fail("the budget never ran out")


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_answer_of_a_budgeted_route_shows_the_budget_running_down(
        client: Any, route: str) -> None:
    request, setting = ROUTES[route]
    _runs_down_to_the_429(client, request, new_user_id(), _budget(setting))


def test_the_status_reads_show_their_own_budget_running_down(client: Any) -> None:
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id))

    def poll(client: Any, user_id: int) -> Any:
        return send(client, "GET", f"/api/headshots/status/{job['id']}",
                    theme="rate-limit headers", headers=auth(user_id))

    _runs_down_to_the_429(client, poll, user_id, _budget("rate_limit_status_per_minute"))


def test_reads_without_a_budget_carry_no_rate_limit_headers(client: Any) -> None:
    user_id = new_user_id()
    for path in ("/api/me", "/api/headshots/history", "/api/headshots/styles", "/healthz"):
        answer = client.get(path, headers=auth(user_id))
        assert answer.status_code == 200, path
        assert not [name for name, _ in answer.headers.items() if name.startswith("RateLimit")], \
            path
