"""Engine and unit of work: one session per request or task, rolled back unless committed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings


@lru_cache(maxsize=1)
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


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session whose work is rolled back unless the caller commits it explicitly."""
    session = _session_factory()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
