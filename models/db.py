"""The database engine, one per process, and what counts as losing the database."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from config import get_settings, per_settings

# psycopg2 raises OperationalError for a refused or broken connection and InterfaceError for a
# closed one: the database is away, which is nobody's input's fault.
CONNECTION_FAULTS = (OperationalError, InterfaceError)

# A connection that sat in the pool at least this long is pinged (SELECT 1) before it is handed
# out, and replaced if it is dead: PostgreSQL may have restarted meanwhile, and the request
# that takes it should not fail for that. One in steady use is not pinged: a ping on every
# checkout (pool_pre_ping) was a round trip per request. A connection that breaks while in
# steady use fails its request with a 503 (CONNECTION_FAULTS), as one breaking mid-request
# always did, and SQLAlchemy then replaces every connection of the pool older than the fault.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "headshots.idle_since"  # key in the pool's connection record's info


@per_settings
def get_engine() -> Engine:
    engine = create_engine(
        get_settings().sqlalchemy_url,
        # Up to 20 connections a process, every one kept once opened. It was 10 kept + 10
        # "overflow" ones closed on their return: under the gevent web's 16-odd concurrent
        # requests a process opened a new PostgreSQL connection (a backend forked, its
        # authentication) every few dozen requests.
        pool_size=20,
        max_overflow=0,
        pool_timeout=5,
        # The connection returned last is handed out first: in steady use a few connections
        # take the work and stay fresh, so they are not pinged. First-in-first-out cycled
        # through all twenty, each idle past PING_AFTER_IDLE_SECONDS at a modest rate (a
        # worker's 16 transactions a second), so most checkouts paid the ping's round trip.
        pool_use_lifo=True,
        connect_args={"connect_timeout": 5},
    )

    @event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or back in the pool a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection is dead") from error
        if not alive:
            raise DisconnectionError("the pooled connection is dead")  # the pool takes another

    # A forked child (gunicorn or prefork worker) must not reuse its parent's sockets.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    return engine


def is_connection_fault(error: DBAPIError) -> bool:
    return error.connection_invalidated or isinstance(error, CONNECTION_FAULTS)
