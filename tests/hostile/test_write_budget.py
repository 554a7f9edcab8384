"""Rate limits as an attacker spends them: one write budget per user across every write route
(DELETE included), a budget of its own per operator on the admin routes, and status reads
apart. Past a budget: the §3 429 with `Retry-After`, and the request changes nothing.

Every write route is found from the app's URL map, so a new one is covered without a change
here. Requests with ids that do not exist, or bodies that are refused, count as well: a 404 or
a 400 still costs the server a request.
"""

from __future__ import annotations

from itertools import cycle, islice
from typing import Any

import pytest
from limits import parse
from werkzeug.routing import Rule

from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.routes import path_of
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Write routes with a budget of their own, by design, and its setting: the app reports events
# as the user taps around, which must never use up the budget of their real actions. Each is
# checked below to be limited all the same; any other write route must share the one budget.
OWN_BUDGETS = {("POST", "/api/events"): "rate_limit_events"}


def _budget(setting: str) -> int:
    from config import get_settings

    return int(parse(getattr(get_settings(), setting)).amount)


@pytest.fixture(scope="module")
def write_routes(app: Any) -> list[tuple[str, Rule]]:
    """(method, rule) of every write route of a user (the admin ones have their own budget, and
    so do those of OWN_BUDGETS: the app's behaviour events, reported as the user taps around)."""
    routes = [(method, rule) for rule in app.url_map.iter_rules()
              for method in sorted((rule.methods or set()) & WRITE_METHODS)
              if rule.rule.startswith("/api/") and not rule.rule.startswith("/api/admin/")
              and (method, rule.rule) not in OWN_BUDGETS]
    methods = {method for method, _ in routes}
    assert {"POST", "DELETE"} <= methods and len(routes) >= 10, routes
    return sorted(routes, key=lambda route: (route[1].rule, route[0]))


def _write(client: Any, user_id: int, method: str, rule: Rule) -> Any:
    return send(client, method, path_of(rule), theme="write budget", headers=auth(user_id),
                json={})


def test_one_write_budget_per_user_across_every_write_route(
        client: Any, write_routes: list[tuple[str, Rule]]) -> None:
    """The budget spread over all the write routes runs out as if spent on one: then every
    write route, DELETE included, is a 429 for that user, and nothing more is written."""
    budget = _budget("rate_limit_writes")
    user_id = funded_user(5)
    for method, rule in islice(cycle(write_routes), budget):
        answer = _write(client, user_id, method, rule)
        assert answer.status_code != 429, (method, rule.rule, answer.get_json())
    before = footprint(user_id)
    for method, rule in write_routes:
        assert_error(_write(client, user_id, method, rule), 429, "rate_limited",
                     context=(method, rule.rule))
    # The requests past the budget are refused before their bodies are looked at.
    key = stored_upload(user_id)
    assert_error(send(client, "POST", "/api/headshots/generate", theme="write budget",
                      headers=auth(user_id),
                      json={"imageUrl": signed_url(key), "style": "corporate"}),
                 429, "rate_limited")
    after = footprint(user_id)
    after.pop(f"uploads {user_id}"), before.pop(f"uploads {user_id}")  # the one made above
    after.pop("media"), before.pop("media")
    assert_unchanged(before, after, "writes past the budget")


def test_deletes_count_against_the_budget(client: Any) -> None:
    """DELETE alone runs the budget out too (it used to have no limit at all)."""
    budget = _budget("rate_limit_writes")
    user_id = new_user_id()
    for _ in range(budget):
        answer = send(client, "DELETE", "/api/headshots/history/1", theme="write budget",
                      headers=auth(user_id))
        assert answer.status_code == 404
    assert_error(send(client, "DELETE", "/api/headshots/history/1", theme="write budget",
                      headers=auth(user_id)), 429, "rate_limited")


def test_the_budget_is_the_users_not_the_routes_nor_anyone_elses(
        client: Any, write_routes: list[tuple[str, Rule]]) -> None:
    budget = _budget("rate_limit_writes")
    spender, bystander = new_user_id(), funded_user(1)
    for method, rule in islice(cycle(write_routes), budget):
        _write(client, spender, method, rule)
    assert_error(_write(client, spender, "DELETE", _rule(write_routes, "/api/me")), 429)
    # Another user still has all of theirs; the spender's status reads have their own budget.
    job = make_job(bystander, stored_upload(bystander))
    assert _write(client, bystander, "POST", _rule(write_routes, "/favorite")).status_code \
        != 429
    assert send(client, "GET", f"/api/headshots/status/{job['id']}", theme="write budget",
                headers=auth(bystander)).status_code == 200
    assert send(client, "GET", "/api/headshots/history", theme="write budget",
                headers=auth(spender)).status_code == 200


def _rule(routes: list[tuple[str, Rule]], ending: str) -> Rule:
    return next(rule for _, rule in routes if rule.rule.endswith(ending))


def test_admin_routes_have_a_budget_per_operator(client: Any) -> None:
    budget = _budget("rate_limit_admin")
    operator, other_operator, user_id = new_user_id(), new_user_id(), funded_user(0)
    path = f"/api/admin/users/{user_id}/credits"
    for _ in range(budget):
        answer = send(client, "POST", path, theme="write budget",
                      headers=auth(operator, role="admin"), json={"amount": 0, "reason": "x"})
        assert answer.status_code == 400, answer.get_json()  # amount 0: refused, but counted
    before = footprint(user_id)
    assert_error(send(client, "POST", path, theme="write budget",
                      headers=auth(operator, role="admin"),
                      json={"amount": 5, "reason": "past the budget"}), 429, "rate_limited")
    assert_unchanged(before, footprint(user_id), "a grant past the operator's budget")
    granted = send(client, "POST", path, theme="write budget",
                   headers=auth(other_operator, role="admin"), json={"amount": 5, "reason": "x"})
    assert granted.status_code == 201, granted.get_json()
    # The operator's own writes as a user are a budget apart.
    assert send(client, "DELETE", "/api/headshots/history/1", theme="write budget",
                headers=auth(operator)).status_code == 404


@pytest.mark.parametrize("route", sorted(OWN_BUDGETS))
def test_a_route_with_a_budget_of_its_own_is_limited_and_apart(
        client: Any, write_routes: list[tuple[str, Rule]], route: tuple[str, str]) -> None:
    """Its own budget runs out into the §3 429, and spending it leaves the write budget whole
    (and the other way round)."""
    method, path = route
    budget = _budget(OWN_BUDGETS[route])
    user_id = new_user_id()
    for write_method, rule in islice(cycle(write_routes), _budget("rate_limit_writes")):
        _write(client, user_id, write_method, rule)
    assert send(client, method, path, theme="write budget", headers=auth(user_id),
                json={}).status_code != 429  # the write budget is spent, this one is not
    for _ in range(budget - 1):
        send(client, method, path, theme="write budget", headers=auth(user_id), json={})
    assert_error(send(client, method, path, theme="write budget", headers=auth(user_id),
                      json={}), 429, "rate_limited", context=route)
    other = new_user_id()
    for _ in range(budget + 1):
        send(client, method, path, theme="write budget", headers=auth(other), json={})
    assert send(client, "DELETE", "/api/headshots/history/1", theme="write budget",
                headers=auth(other)).status_code == 404  # their writes are untouched
