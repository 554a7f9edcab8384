"""Reads of a chaos stack's own database, over a connection of the harness."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from typing import Any

import psycopg2
import psycopg2.extras


class StackDatabase:
    """Reads of the stack's own database over a psycopg2 connection of the harness.

    A read that meets a connection error reconnects and tries again until `patience` runs
    out, so a scenario that restarts PostgreSQL can keep reading.
    """

    def __init__(self, url: str, patience: float = 60.0) -> None:
        self.url = url
        self.patience = patience
        self._connection: Any = None
        self._lock = threading.Lock()

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                with self._lock:
                    if self._connection is None or self._connection.closed:
                        self._connection = psycopg2.connect(self.url, connect_timeout=3)
                        self._connection.autocommit = True
                    with self._connection.cursor(
                            cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                        cursor.execute(query, params)
                        return [dict(row) for row in cursor.fetchall()]
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def value(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(query, params)
        return next(iter(rows[0].values())) if rows else None

    def in_flight(self) -> int:
        return int(self.value(
            "SELECT count(*) FROM headshot_generations WHERE status IN ('queued', 'processing')"))

    def statuses(self) -> Counter[str]:
        return Counter({row["status"]: row["n"] for row in self.rows(
            "SELECT status, count(*) AS n FROM headshot_generations GROUP BY status")})

    def credits(self, user_id: int) -> int:
        return int(self.value("SELECT credits FROM users WHERE id = %s", (user_id,)))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg2.Error):
                connection.close()
