"""The job statuses this web process has seen, kept current by Redis pub/sub, so a poll of a job
that is not queued needs no Redis round trip.

Every status change is published on the job's channel (`PUBLISH_IF_NEWER`, and the tombstone of
a deleted job); one subscriber per process listens to all of them (a pattern subscription) and
keeps the newest snapshot of each job it has heard of, up to MAX_ENTRIES. A poll that misses
here reads Redis as before and offers what it read, which is kept only if no change arrived
while it was being read (a read that raced a change could hold the older state).

Queued jobs are never answered from here: their place in the queue moves as others leave it.
The mirror answers only while it is subscribed. When the subscription breaks (Redis restarted,
the connection dropped, messages lost), it forgets everything and answers nothing until it is
subscribed again. Each entry also expires STATUS_MIRROR_SECONDS after it was learned, a bound
on staleness should a message ever go missing without the connection breaking.
"""

from __future__ import annotations

import fcntl
import json
import logging
import select
import socket
import struct
import termios
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis import __version__ as redis_version
from redis.client import PubSub
from redis.connection import Connection

from config import get_settings, per_settings
from models.job.snapshot import StatusSnapshot
from models.job.table import JobStatus
from services.redis_client import get_redis
from services.status_cache import status_channel

log = logging.getLogger(__name__)

# The jobs being polled: each is polled every second or two, so a process serving its share
# of polls holds a few thousand at most. A bound on memory: the least recently learned go first.
MAX_ENTRIES = 5_000
RESUBSCRIBE_SECONDS = 1.0
REDIS_SOCKET_ATTRIBUTE = "_sock"  # redis-py's, private: see `_socket_of`
_NO_BYTES = struct.pack("i", 0)  # FIONREAD's answer for an empty socket


class StatusMirror:
    def __init__(self, *, seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[int, tuple[float, StatusSnapshot]] = OrderedDict()
        self._changes = 0  # messages applied and forgettings: an offer read before one waits
        self._live = False
        self._connection: Connection | None = None  # the subscription's, once subscribed
        self._reading = False  # the listener is reading or applying changes
        self._lock = threading.Lock()

    def get(self, generation_id: int, *, now: float) -> StatusSnapshot | None:
        """The job's snapshot, if known here, fresh and not queued, and no change is waiting
        to be applied."""
        held = self._entries.get(generation_id) if self._live else None
        if held is None or now - held[0] > self._seconds or self._behind():
            return None
        return held[1]

    def _behind(self) -> bool:
        """Whether changes wait in the subscription's socket, not applied yet.

        Redis writes a PUBLISH's message to its subscribers before it answers the publisher,
        so a change committed before this poll arrived (a retry the app just made, here or in
        another process of this host) is in that socket by now if not applied already: a
        poll never reads a state older than what its client was told. From before it takes
        bytes off the socket until it has applied them all, the listener says it is reading.
        """
        sock = _socket_of(self._connection)
        if self._reading or sock is None:
            return True
        try:
            unread = fcntl.ioctl(sock.fileno(), termios.FIONREAD, _NO_BYTES)
        except (OSError, ValueError):  # closed meanwhile by a reconnect (with OS threads)
            return True
        return unread != _NO_BYTES

    def changes(self) -> int | None:
        """A mark to give `offer` for a read about to start; None while not subscribed."""
        return self._changes if self._live else None

    def offer(self, snapshot: StatusSnapshot, *, changes_seen: int | None) -> None:
        """Keep what a poll read from Redis, unless a change arrived since `changes()` said
        `changes_seen` (the read may hold the state from before it)."""
        if snapshot.status == JobStatus.QUEUED or changes_seen is None:
            return
        with self._lock:
            if self._live and self._changes == changes_seen:
                self._keep(snapshot)

    def listen(self, redis: Redis, *, still_wanted: Callable[[], bool]) -> None:
        """Follow every status change until `still_wanted` says no; subscribe again after
        each break. Runs on a thread (a greenlet under gevent) of its own."""
        warned = False  # once per outage, not once a second while Redis is down
        while still_wanted():
            pubsub = redis.pubsub()
            try:
                pubsub.psubscribe(status_channel(redis, "*"))
                self._follow(pubsub, still_wanted)
            except Exception:  # noqa: BLE001 - any break: forget, then subscribe again
                warned = warned and not self._live
                log.log(logging.DEBUG if warned else logging.WARNING,
                        "status mirror: subscription lost; polls read Redis until it is back",
                        exc_info=True)
                warned = True
            finally:
                self._forget_all()
                pubsub.close()
            if still_wanted():
                time.sleep(RESUBSCRIBE_SECONDS)

    def _follow(self, pubsub: PubSub, still_wanted: Callable[[], bool]) -> None:
        while still_wanted():
            if not _readable(pubsub, seconds=1.0):
                pubsub.check_health()  # a PING now and then: a dead peer raises here
                continue
            self._reading = True  # from before the socket is read until all it held is applied
            try:
                while True:
                    message = pubsub.get_message(timeout=0)
                    if message is not None:
                        self._handle(pubsub, message)
                    elif not pubsub.connection or not pubsub.connection.can_read(timeout=0):
                        break  # nothing more buffered or waiting in the socket
            finally:
                self._reading = False

    def _handle(self, pubsub: PubSub, message: dict[str, Any]) -> None:
        if message["type"] == "psubscribe":
            # Subscribed: from here on no change can be missed. redis-py subscribes again by
            # itself after a dropped connection, so this may come again, and what was learned
            # before it may have missed changes in between.
            self._forget_all()
            with self._lock:
                self._connection = pubsub.connection
                self._live = True
        elif message["type"] == "pmessage":
            self._apply(message["channel"], message["data"])

    def _apply(self, channel: bytes, data: bytes) -> None:
        generation_id = int(channel.rsplit(b":", 1)[1])
        held = json.loads(data)
        with self._lock:
            self._changes += 1
            if held.get("deleted") or held["status"] == JobStatus.QUEUED:
                self._entries.pop(generation_id, None)
            else:
                self._keep(StatusSnapshot(**held))

    def _keep(self, snapshot: StatusSnapshot) -> None:
        self._entries[snapshot.id] = (time.time(), snapshot)
        self._entries.move_to_end(snapshot.id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _forget_all(self) -> None:
        with self._lock:
            self._live = False
            self._connection = None
            self._changes += 1
            self._entries.clear()


def _socket_of(connection: Connection | None) -> socket.socket | None:
    """redis-py's socket of the connection (None while it reconnects): the mirror watches it
    itself, to know when changes are waiting.

    redis-py offers no public way to see whether bytes wait unread in a connection's socket
    (`can_read` reads them into its own buffer, which only the listener may do), so this reads
    its private `_sock` (docs/architecture.md, "Library internals we rely on").
    `redis_keeps_its_socket` checks it before a mirror is made, and
    tests/unit/test_library_internals.py when redis-py is upgraded."""
    return getattr(connection, REDIS_SOCKET_ATTRIBUTE, None)


def redis_keeps_its_socket() -> bool:
    """Whether redis-py still keeps a connection's socket where `_socket_of` looks. When it
    does not, the mirror would never know whether a change waits unread, so there is none."""
    return REDIS_SOCKET_ATTRIBUTE in vars(Connection())


def _readable(pubsub: PubSub, *, seconds: float) -> bool:
    sock = _socket_of(pubsub.connection)
    if sock is None:
        return True  # let redis-py connect again (or raise)
    waiting = select.poll()  # not select.select: a web worker's sockets go past its 1024 limit
    waiting.register(sock, select.POLLIN)
    return bool(waiting.poll(seconds * 1000))


@per_settings
def get_status_mirror() -> StatusMirror | None:
    """This process's mirror, following changes from its first use; None when it is off
    (STATUS_MIRROR_SECONDS=0)."""
    seconds = get_settings().status_mirror_seconds
    if not seconds:
        return None
    if not redis_keeps_its_socket():
        log.error("status mirror off: redis-py %s keeps no %s on its connections; every poll "
                  "reads Redis", redis_version, REDIS_SOCKET_ATTRIBUTE)
        return None
    mirror = StatusMirror(seconds=seconds)
    # It follows while it is still this process's mirror: other settings installed (the
    # tests do) build another, and this one's thread ends within a second.
    threading.Thread(target=mirror.listen, name="status-mirror", daemon=True,
                     kwargs={"redis": get_redis(),
                             "still_wanted": lambda: get_status_mirror() is mirror}).start()
    return mirror
