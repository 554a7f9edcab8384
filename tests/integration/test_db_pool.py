"""The database pool (models/db.py): the connection returned last is handed out first, and a
checked-out connection is pinged only when it sat in the pool past PING_AFTER_IDLE_SECONDS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from models import db
from models.db import get_engine

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The DBAPI connections the pool pinged, in order."""
    dialect = get_engine().dialect
    pinged: list[Any] = []
    real_ping = dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pinged.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    yield pinged


def _dbapi_connection_of_next_checkout() -> Any:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
        return connection.connection.dbapi_connection


def test_the_connection_returned_last_is_handed_out_first() -> None:
    engine = get_engine()
    with engine.connect() as first, engine.connect() as second:  # `second` goes back first
        earlier, latest = second.connection.dbapi_connection, first.connection.dbapi_connection
    assert earlier is not latest
    assert _dbapi_connection_of_next_checkout() is latest
    assert _dbapi_connection_of_next_checkout() is latest


def test_only_a_connection_idle_past_the_limit_is_pinged(
        monkeypatch: pytest.MonkeyPatch, pings: list[Any]) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    used = _dbapi_connection_of_next_checkout()
    assert _dbapi_connection_of_next_checkout() is used and pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every connection is "idle" now
    assert _dbapi_connection_of_next_checkout() is used and pings == [used]
