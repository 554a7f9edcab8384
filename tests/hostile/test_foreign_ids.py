"""Another user's ids (API guide §2): the same 404 as an id that does not exist, nothing changes.

Walks `app.url_map`: every /api route with an id in its path (retry, status, history item,
delete, and whatever is added later), every method.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from werkzeug.routing import Rule

from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error, error_failures
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.routes import path_of, route_methods
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
JOB_KINDS = ("queued", "completed", "failed")


def id_routes(app: Any) -> list[tuple[str, Rule]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and not rule.rule.startswith("/api/admin/") \
                and rule.arguments:
            found += [(method, rule) for method in route_methods(rule)]
    return sorted(found, key=lambda item: (item[1].rule, item[0]))


def _normalised(body: bytes, value: str) -> Any:
    return json.loads(body.decode().replace(value, "{id}"))


def _missing_id() -> str:
    return str(random.randrange(10**16, 10**17))


def test_the_walk_finds_the_id_routes(app: Any) -> None:
    rules = {rule.rule for _, rule in id_routes(app)}
    assert {"/api/headshots/status/<id:generation_id>",
            "/api/headshots/history/<id:generation_id>"} <= rules


@pytest.mark.parametrize("kind", JOB_KINDS)
def test_another_users_job_is_the_same_404_as_a_missing_one(app: Any, client: Any,
                                                           victim: dict[str, Any],
                                                           kind: str) -> None:
    attacker = funded_user(10)
    before = footprint(attacker, victim["user_id"])
    theirs = str(victim[kind]["id"])
    failures: list[str] = []
    for method, rule in id_routes(app):
        answers = {}
        for label, value in (("theirs", theirs), ("missing", _missing_id())):
            path = path_of(rule, {name: value for name in rule.arguments})
            response = send(client, method, path, theme="foreign ids", headers=auth(attacker),
                            json={})
            try:
                assert_error(response, 404, "not_found", context=f"{method} {path}")
            except AssertionError as problem:
                failures.append(str(problem).splitlines()[0])
                continue
            answers[label] = _normalised(response.data, value)
        if len(answers) == 2 and answers["theirs"] != answers["missing"]:
            failures.append(f"{method} {rule.rule}: leaks existence: {answers}")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(attacker, victim["user_id"]), kind)


def test_own_deleted_job_is_the_same_404_as_a_missing_one(app: Any, client: Any) -> None:
    user_id = funded_user(10)
    job = make_job(user_id, stored_upload(user_id), "completed")
    response = send(client, "delete", f"/api/headshots/history/{job['id']}", theme="foreign ids",
                    headers=auth(user_id))
    assert response.status_code == 204
    before = footprint(user_id)
    failures: list[str] = []
    for method, rule in id_routes(app):
        answers = []
        for value in (str(job["id"]), _missing_id()):
            path = path_of(rule, {name: value for name in rule.arguments})
            response = send(client, method, path, theme="foreign ids", headers=auth(user_id),
                            json={})
            if response.status_code != 404:
                failures.append(f"{method} {path}: {response.status_code} {response.data!r}")
                break
            answers.append(_normalised(response.data, value))
        if len(answers) == 2 and answers[0] != answers[1]:
            failures.append(f"{method} {rule.rule}: a deleted job differs: {answers}")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id), "deleted job")


@pytest.mark.parametrize("value", ["0", "-1", "01", "1.0", "1e3", "0x10", "%31", "١", "１",
                                   "9" * 19, "9" * 400, "1%00", "1;DROP", "null", " 1"])
def test_malformed_ids_are_404_on_every_id_route(app: Any, client: Any, value: str) -> None:
    user_id = funded_user(1)
    before = footprint(user_id)
    failures: list[str] = []
    for method, rule in id_routes(app):
        path = path_of(rule, {name: value for name in rule.arguments})
        response = send(client, method, path, theme="foreign ids", headers=auth(user_id),
                        json={})
        try:
            assert_error(response, 404, "not_found", context=f"{method} {path}")
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0])
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id), value)


@pytest.mark.parametrize("value", ["abc", "0", "9" * 19, "1.0"])
def test_an_id_that_cannot_exist_is_the_same_404_as_a_missing_one(app: Any, client: Any,
                                                                  value: str) -> None:
    """Whether the route's pattern refuses the id or the database does not hold it, the answer
    is the same, byte for byte: it tells nothing of how ids are made."""
    failures: list[str] = []
    for method, rule in id_routes(app):
        user_id = new_user_id()  # each route its own write budget
        missing = "00000000-0000-4000-8000-000000000001" if "uuid:" in rule.rule \
            else _missing_id()
        answers = []
        for id_value in (value, missing):
            path = path_of(rule, {name: id_value for name in rule.arguments})
            response = send(client, method, path, theme="foreign ids", headers=auth(user_id),
                            json={})
            failures += error_failures(response, 404, "not_found", context=f"{method} {path}")
            answers.append(response.data)
        if answers[0] != answers[1]:
            failures.append(f"{method} {rule.rule}: {answers[0]!r} != {answers[1]!r}")
    assert not failures, "\n".join(failures)
