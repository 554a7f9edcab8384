"""A database of its own on the local PostgreSQL: created empty, migrated, dropped at the end.

The server is the one `./run services` keeps up (127.0.0.1:5432, postgres/postgres);
`TEST_DATABASE_ADMIN_URL` points elsewhere, and each function's `admin_url` at another server
(the chaos suite's own, `devstack/postgres_cluster.py`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from devstack.processes import BIN, REPO_ROOT

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str, *, admin_url: str = ADMIN_DATABASE_URL) -> str:
    """The URL of database `name` on the admin URL's server."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _admin_execute(statement: str, name: str, admin_url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        connection.close()


def create_database(name: str, *, admin_url: str = ADMIN_DATABASE_URL) -> str:
    """A new, empty database on the server; returns its URL."""
    _admin_execute("CREATE DATABASE {}", name, admin_url)
    return database_url(name, admin_url=admin_url)


def drop_database(name: str, *, admin_url: str = ADMIN_DATABASE_URL) -> None:
    _admin_execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name, admin_url)


def migrate(url: str, *, base_env: Mapping[str, str] | None = None) -> None:
    """The Procfile's `release` step (`alembic upgrade head`) against the database at `url`.

    `base_env` is the environment alembic runs in (this process's own by default).
    """
    env = {**(os.environ if base_env is None else base_env), "DATABASE_URL": url}
    subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=REPO_ROOT, env=env,
                   check=True, capture_output=True, timeout=60)


def postgres_answers(admin_url: str = ADMIN_DATABASE_URL) -> bool:
    """Whether the server takes connections (a scenario may have restarted it)."""
    import psycopg2

    try:
        psycopg2.connect(admin_url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True
