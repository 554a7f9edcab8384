"""A prepared statement's SQL (models/prepared.py): `:name` parameters become PostgreSQL's
positional ones, in the order of their types; casts are left alone."""

from __future__ import annotations

from models.prepared import PreparedStatement


def test_named_parameters_become_positional_in_the_order_of_their_types() -> None:
    statement = PreparedStatement(
        "probe", "SELECT :b, '[]'::jsonb, CAST(:a AS UUID), x::text, :b FROM t WHERE y = :a",
        {"a": "UUID", "b": "VARCHAR[]"})

    assert statement.prepare_sql == (
        "PREPARE probe (UUID, VARCHAR[]) AS "
        "SELECT $2, '[]'::jsonb, CAST($1 AS UUID), x::text, $2 FROM t WHERE y = $1")
    assert str(statement.execute) == "EXECUTE probe (:a, :b)"
