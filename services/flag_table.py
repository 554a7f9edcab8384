"""The feature flags as this process last read them, and how a change reaches every process.

Every request that asks about a flag reads this process's copy of the whole table (a few dozen
rows at most). The copy is checked at most once per RECHECK_SECONDS against a version number
in Redis (`VERSION_KEY`), which every change increments after its commit: when the number
differs, the table is read again from PostgreSQL. So a change reaches every web and worker
process within about RECHECK_SECONDS, at the cost of one Redis GET per process per second.

The version is read BEFORE the rows, so a change committed between the two is read again on
the next check, never lost. A change whose increment failed (Redis down at that moment) still
arrives within REREAD_SECONDS, when the table is read again whatever the version says; while
Redis cannot be read, the table is read again at every check. If PostgreSQL cannot be read
either, the last copy stands (a process that never read it treats every flag as untouched: on).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from config import per_settings
from models.feature_flags import FlagState, known_flag_names, read_flags
from services.redis_client import get_redis
from services.unit_of_work import read_only

log = logging.getLogger(__name__)

VERSION_KEY = "feature-flags:version"
RECHECK_SECONDS = 1.0
REREAD_SECONDS = 30.0


@dataclass(frozen=True)
class FlagSnapshot:
    """The table at one moment: the rows, and every name a flag can have."""

    flags: dict[str, FlagState] = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def state(self, name: str) -> FlagState:
        return self.flags.get(name) or FlagState.default(name)


class FlagTable:
    def __init__(self) -> None:
        self._snapshot = FlagSnapshot()
        self._version: bytes | None = None
        self._checked_at = -RECHECK_SECONDS  # monotonic time; never checked yet
        self._read_at = -REREAD_SECONDS
        self._checking = threading.Lock()

    def snapshot(self) -> FlagSnapshot:
        if time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return self._snapshot
        with self._checking:  # one request checks; the others wait a moment for it
            if time.monotonic() - self._checked_at >= RECHECK_SECONDS:
                self._check()
        return self._snapshot

    def forget(self) -> None:
        """Read the table again at the next question (this process just changed it)."""
        self._checked_at = -RECHECK_SECONDS
        self._read_at = -REREAD_SECONDS

    def _check(self) -> None:
        # `_checked_at` moves only once the check is over: a reader arriving meanwhile waits
        # for it on the lock, instead of taking the copy this check is about to replace.
        now = time.monotonic()
        try:
            version: bytes | None = get_redis().get(VERSION_KEY)  # type: ignore[assignment]
            redis_read = True
        except RedisError as error:
            log.warning("feature flags: version unreadable, reading the table: %s", error)
            version, redis_read = None, False
        if redis_read and version == self._version and now - self._read_at < REREAD_SECONDS:
            self._checked_at = now
            return
        try:
            with read_only() as db_session:
                snapshot = FlagSnapshot(read_flags(db_session),
                                        tuple(known_flag_names(db_session)))
        except SQLAlchemyError as error:
            log.warning("feature flags: table unreadable, keeping the last copy: %s", error)
            self._checked_at = now
            return
        self._snapshot, self._version, self._read_at = snapshot, version, now
        self._checked_at = now


@per_settings
def flag_table() -> FlagTable:
    return FlagTable()


def announce_change() -> None:
    """Tell every process to read the table again (after a committed change)."""
    flag_table().forget()
    try:
        get_redis().incr(VERSION_KEY)
    except RedisError as error:
        log.warning("feature flags: could not announce a change (it arrives within %.0f s): %s",
                    REREAD_SECONDS, error)
