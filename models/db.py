"""The database engine, one per process, and what counts as losing the database."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from config import get_settings, per_settings

# psycopg2 raises OperationalError for a refused or broken connection and InterfaceError for a
# closed one: the database is away, which is nobody's input's fault.
CONNECTION_FAULTS = (OperationalError, InterfaceError)


@per_settings
def get_engine() -> Engine:
    engine = create_engine(
        get_settings().sqlalchemy_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,  # survive a PostgreSQL restart without a failed request
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )
    # A forked child (gunicorn or prefork worker) must not reuse its parent's sockets.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    return engine


def is_connection_fault(error: DBAPIError) -> bool:
    return error.connection_invalidated or isinstance(error, CONNECTION_FAULTS)
