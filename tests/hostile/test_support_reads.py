"""The support lookups (§14) as an attacker or a careless operator uses them: a user's token,
bad ids and emails, unknown users, floods past the operator's budget, and what reaches the
logs. Each refusal is the §3 error and writes nothing, not even an audit row; a lookup that
gets through is audited, one that finds nobody too."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from limits import parse
from sqlalchemy import func, select

from models.audit import AuditEntry
from models.users import ensure_user
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

THEME = "support reads"


def _audit_rows() -> int:
    with unit_of_work() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _paths(user_id: int) -> list[str]:
    return [f"/api/admin/users/{user_id}", "/api/admin/users?email=someone%40example.com",
            f"/api/admin/failures?userId={user_id}"]


def test_a_users_token_is_403_and_no_token_401_and_nothing_is_audited(client: Any) -> None:
    victim = funded_user(3)
    before, audited = footprint(victim), _audit_rows()
    for path in _paths(victim):
        assert_error(send(client, "GET", path, theme=THEME), 401, context=path)
        assert_error(send(client, "GET", path, theme=THEME, headers=auth(victim)), 403,
                     "forbidden", context=path)
        assert_error(send(client, "GET", path, theme=THEME,
                          headers=auth(new_user_id(), role="support")), 403, context=path)
    assert_unchanged(before, footprint(victim), "support reads by a non-operator")
    assert _audit_rows() == audited


@pytest.mark.parametrize("user_id", [
    "0", "00", "-1", "abc", "1.5", "1e3", "0x10", "9" * 19, "%201", "1%20", "%00",
    "\u0661\u0662",  # Arabic-Indic digits: digits to Python, not to the API
    "1;DROP TABLE users", "%27%20OR%201=1",
])
def test_a_bad_user_id_is_400_naming_it(client: Any, user_id: str) -> None:
    audited = _audit_rows()
    assert_error(send(client, "GET", f"/api/admin/users/{user_id}", theme=THEME,
                      headers=ADMIN), 400, "invalid_request", field="userId", context=user_id)
    assert _audit_rows() == audited  # refused before any lookup


@pytest.mark.parametrize("query", [
    "", "email=", "email=plain", "email=a%40b%40c", "email=a%20b%40c.d",
    "email=" + "x" * 320 + "%40e.com", "email=a%40b%00", "email=%40", "email=a%40",
    "email=a%40b.c&email=d%40e.f",  # given twice: never one picked silently
])
def test_a_bad_email_is_400_naming_it(client: Any, query: str) -> None:
    audited = _audit_rows()
    response = send(client, "GET", f"/api/admin/users?{query}", theme=THEME, headers=ADMIN)
    assert_error(response, 400, "invalid_request", field="email", context=query)
    assert _audit_rows() == audited


def test_an_unknown_user_is_404_and_the_look_is_audited_without_a_user(client: Any) -> None:
    operator = new_user_id()
    for path in (f"/api/admin/users/{new_user_id()}",
                 f"/api/admin/users?email=nobody.{uuid.uuid4().hex}%40example.com"):
        audited = _audit_rows()
        assert_error(send(client, "GET", path, theme=THEME,
                          headers=auth(operator, role="admin")), 404, "not_found", context=path)
        assert _audit_rows() == audited + 1
    with unit_of_work() as db_session:
        rows = db_session.execute(
            select(AuditEntry.action, AuditEntry.user_id, AuditEntry.amount,
                   AuditEntry.credit_entry_id)
            .where(AuditEntry.operator_id == operator).order_by(AuditEntry.id)).all()
    assert [tuple(row) for row in rows] == [("view_user", None, None, None)] * 2


def _budget() -> int:
    from config import get_settings

    return int(parse(get_settings().rate_limit_admin).amount)


def test_a_flood_of_lookups_hits_the_operators_budget(client: Any) -> None:
    """Past the budget the lookup is a 429 before it reads or audits anything; the budget is the
    operator's own, shared with every admin route."""
    operator, other_operator, user_id = new_user_id(), new_user_id(), funded_user(2)
    headers = auth(operator, role="admin")
    for n in range(_budget()):
        path = _paths(user_id)[n % 3]
        assert send(client, "GET", path, theme=THEME, headers=headers).status_code in (200, 404)
    audited = _audit_rows()
    for path in _paths(user_id):
        assert_error(send(client, "GET", path, theme=THEME, headers=headers), 429,
                     "rate_limited", context=path)
    assert _audit_rows() == audited
    assert send(client, "GET", f"/api/admin/users/{user_id}", theme=THEME,
                headers=auth(other_operator, role="admin")).status_code == 200


def test_the_logs_carry_no_email_a_lookup_searched_for(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The request line names the route, not the query string; errors do not echo it."""
    known = f"known.{uuid.uuid4().hex[:12]}@example.com"
    unknown = f"unknown.{uuid.uuid4().hex[:12]}@example.com"
    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id, email=known)
        db_session.commit()
    with caplog.at_level(logging.DEBUG):
        caplog.clear()
        for email, status in ((known, 200), (unknown, 404), (known.upper(), 200)):
            response = send(client, "GET", "/api/admin/users", theme=THEME, headers=ADMIN,
                            query_string={"email": email})
            assert response.status_code == status
            assert status == 200 or email not in response.get_data(as_text=True)
        bad = "not-an-address-" + uuid.uuid4().hex
        assert_error(send(client, "GET", "/api/admin/users", theme=THEME, headers=ADMIN,
                          query_string={"email": bad}), 400, field="email")
    logged = "\n".join(record.getMessage() + json.dumps(record.__dict__, default=str)
                       for record in caplog.records)
    assert caplog.records, "the lookups logged nothing at all"
    for secret in (known, known.upper(), unknown, bad, known.split("@")[0]):
        assert secret not in logged, secret
