"""Statements PostgreSQL parses and plans once per connection, not at every execution.

psycopg2 sends each statement as text with its values inlined, so PostgreSQL parses, analyses
and plans it every time. For a large statement on a hot path (the charge that creates jobs)
that is most of what the database spends on it.
A `PreparedStatement` is PREPAREd on a connection the first time that connection runs it,
then run with EXECUTE: PostgreSQL plans it for the first executions and, once a generic plan
is as good as the custom ones, not again. (psycopg 3 does this by itself; psycopg2 cannot.)

A prepared statement lives as long as its connection and survives the rollback of the
transaction that prepared it; which statements a connection holds is kept in the
connection's `info`, which the pool keeps with it (a replaced connection starts empty). This
needs a connection to be one PostgreSQL session throughout, as it is here: behind a pooler
in transaction mode (PgBouncer's) it would not be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import Connection, TextClause, text

_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")  # :name, not the `::` of a cast


class PreparedStatement:
    """`sql` with `:name` parameters, each of the SQL type `types[name]`."""

    def __init__(self, name: str, sql: str, types: Mapping[str, str]) -> None:
        order = list(types)
        body = _PARAMETER.sub(lambda match: f"${order.index(match.group(1)) + 1}", sql)
        self.name = name
        self.prepare_sql = f"PREPARE {name} ({', '.join(types.values())}) AS {body}"
        self.execute: TextClause = text(
            f"EXECUTE {name} ({', '.join(f':{parameter}' for parameter in order)})")

    def prepare_on(self, connection: Connection) -> None:
        """PREPARE it on `connection`, unless that connection already holds it."""
        held: set[str] = connection.info.setdefault("prepared_statements", set())
        if self.name not in held:
            connection.exec_driver_sql(self.prepare_sql)
            held.add(self.name)
