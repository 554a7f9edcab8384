"""Prepared statements (models/prepared.py): PREPAREd once per connection, kept through a
rollback, and the charge that creates jobs runs as one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, text

from models.db import get_engine
from models.prepared import PreparedStatement
from tests.support.api_calls import generate, grant, uploaded_url
from tests.support.users import new_user_id

pytestmark = pytest.mark.usefixtures("stack")


def _probe() -> PreparedStatement:
    return PreparedStatement(f"probe_{uuid.uuid4().hex}",
                             "SELECT CAST(:a AS INTEGER) + :b AS total, 'x'::text AS kind",
                             {"a": "INTEGER", "b": "INTEGER"})


def _prepared_on(connection: Connection) -> set[str]:
    return set(connection.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_prepared_once_per_connection_and_kept_through_a_rollback() -> None:
    probe = _probe()
    with get_engine().connect() as connection:
        assert probe.name not in _prepared_on(connection)
        probe.prepare_on(connection)
        probe.prepare_on(connection)  # a second PREPARE of the name would be an error
        assert connection.execute(probe.execute, {"a": 2, "b": 3}).one() == (5, "x")
        connection.rollback()
        assert probe.name in _prepared_on(connection)
        assert connection.execute(probe.execute, {"a": 4, "b": 5}).scalar_one() == 9


def test_each_connection_prepares_it_for_itself() -> None:
    probe = _probe()
    engine = get_engine()
    with engine.connect() as first, engine.connect() as second:
        probe.prepare_on(first)
        assert probe.name not in _prepared_on(second)
        probe.prepare_on(second)
        assert second.execute(probe.execute, {"a": 1, "b": 1}).scalar_one() == 2


@pytest.mark.usefixtures("ledger_invariant")
def test_the_charge_that_creates_a_job_runs_prepared(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 2)
    url = uploaded_url(client, user_id)
    assert generate(client, user_id, url).status_code == 202
    # The pool hands out the connection returned last (models/db.py): the request's.
    with get_engine().connect() as connection:
        assert "charged_jobs" in _prepared_on(connection)
        assert "charged_jobs" in connection.info["prepared_statements"]
    assert generate(client, user_id, url).status_code == 202  # on a connection that has it
