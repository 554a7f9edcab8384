"""The feature-flag admin routes (§14) under hostile input: a user's token, no token, bad
bodies, unknown and malformed names, and a flood. Each is answered with the §3 error and
changes nothing: no flag row, no audit row, no process told to read the table again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from limits import parse
from sqlalchemy import func, select

from config import get_settings
from models.audit import FlagChange
from models.feature_flags import FeatureFlag
from services.flag_table import VERSION_KEY
from services.redis_client import get_redis
from services.unit_of_work import read_only
from tests.support.errors import assert_error
from tests.support.flags import reset_flags
from tests.support.hostile import send
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(autouse=True)
def _flags_back_to_defaults() -> Iterator[None]:
    reset_flags()
    yield
    reset_flags()


def _flag_state() -> tuple[Any, ...]:
    with read_only() as db_session:
        rows = sorted(db_session.execute(
            select(FeatureFlag.name, FeatureFlag.enabled, FeatureFlag.percentage,
                   FeatureFlag.users)).all())
        changes = db_session.scalar(select(func.count()).select_from(FlagChange))
    return tuple(rows), changes, get_redis().get(VERSION_KEY)


def _operator() -> dict[str, str]:
    return auth(new_user_id(), role="admin")


def test_a_users_token_or_none_cannot_read_or_set_flags(client: Any) -> None:
    before = _flag_state()
    user = auth(new_user_id())
    for headers, status, code in ((user, 403, "forbidden"), ({}, 401, "unauthorized"),
                                  ({"Authorization": "Bearer not-a-jwt"}, 401, None)):
        assert_error(send(client, "GET", "/api/admin/flags", theme="flag admin",
                          headers=headers), status, code)
        assert_error(send(client, "PUT", "/api/admin/flags/batch", theme="flag admin",
                          headers=headers, json={"enabled": False}), status, code)
    assert _flag_state() == before


BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"enabled": "false"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"enabled": [False]}, "enabled"),
    ({"enabled": True, "percentage": 101}, "percentage"),
    ({"enabled": True, "percentage": -1}, "percentage"),
    ({"enabled": True, "percentage": 10.5}, "percentage"),
    ({"enabled": True, "percentage": "10"}, "percentage"),
    ({"enabled": True, "percentage": True}, "percentage"),
    ({"enabled": True, "percentage": 10**30}, "percentage"),
    ({"enabled": True, "users": "1,2"}, "users"),
    ({"enabled": True, "users": 5}, "users"),
    ({"enabled": True, "users": {"1": True}}, "users"),
    ({"enabled": True, "users": [0]}, "users"),
    ({"enabled": True, "users": [-3]}, "users"),
    ({"enabled": True, "users": ["12"]}, "users"),
    ({"enabled": True, "users": [True]}, "users"),
    ({"enabled": True, "users": [1.5]}, "users"),
    ({"enabled": True, "users": [2**63]}, "users"),
    ({"enabled": True, "users": list(range(1, 1002))}, "users"),
    ({"enabled": True, "percent": 10}, "percent"),
    ({"enabled": True, "name": "\x00"}, "name"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES,
                         ids=[f"{field}-{i}" for i, (_, field) in enumerate(BAD_BODIES)])
def test_a_bad_body_is_a_400_naming_the_field_and_changes_nothing(
        client: Any, body: Any, field: str) -> None:
    before = _flag_state()
    answer = send(client, "PUT", "/api/admin/flags/share", theme="flag admin",
                  headers=_operator(), json=body)
    assert_error(answer, 400, "invalid_request", field, context=body)
    assert _flag_state() == before


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b"true", b'"enabled"', b"null",
                                 b'{"enabled": false, "enabled": true}', b"{" * 5000,
                                 b'{"enabled": NaN}'])
def test_a_body_that_is_not_one_json_object_is_a_400(client: Any, raw: bytes) -> None:
    before = _flag_state()
    answer = send(client, "PUT", "/api/admin/flags/share", theme="flag admin",
                  headers={**_operator(), "Content-Type": "application/json"}, data=raw)
    assert_error(answer, 400, "invalid_request")
    assert _flag_state() == before


@pytest.mark.parametrize("name", [
    "nope", "BATCH", "batch ", "style:", "style:nope", "style:corporate:x", "style%3Acorporate2",
    "push%00", "%E2%80%8Bbatch", "s" * 300, "..%2F..%2Fetc", "style:" + "c" * 60,
])
def test_an_unknown_flag_is_a_404_and_changes_nothing(client: Any, name: str) -> None:
    before = _flag_state()
    answer = send(client, "PUT", f"/api/admin/flags/{name}", theme="flag admin",
                  headers=_operator(), json={"enabled": False})
    assert_error(answer, 404, context=name)
    assert _flag_state() == before


def test_the_flag_routes_spend_the_operators_budget(client: Any) -> None:
    """A flood of changes by one operator runs into the §3 429; the flag keeps the last change
    made within the budget, and every change made is audited, no more."""
    operator = _operator()
    budget = int(parse(get_settings().rate_limit_admin).amount)
    _, changes_before, _ = _flag_state()
    answers = [send(client, "PUT", "/api/admin/flags/export", theme="flag admin",
                    headers=operator, json={"enabled": True, "percentage": n % 101})
               for n in range(budget)]
    assert [a.status_code for a in answers] == [200] * budget
    before = _flag_state()
    assert before[1] == changes_before + budget
    for flooded in range(5):
        assert_error(send(client, "PUT", "/api/admin/flags/export", theme="flag admin",
                          headers=operator, json={"enabled": False}), 429, "rate_limited",
                     context=flooded)
        assert_error(send(client, "GET", "/api/admin/flags", theme="flag admin",
                          headers=operator), 429, "rate_limited")
    assert _flag_state() == before
    assert before[0] == (("export", True, (budget - 1) % 101, []),)
    # Another operator is not held up by the first one's flood.
    assert send(client, "GET", "/api/admin/flags", theme="flag admin",
                headers=_operator()).status_code == 200
