"""kombu's Redis transport, with one client per channel instead of one per command.

kombu's Redis channel builds a new `redis.Redis` for every publish, acknowledgement and
unacked-message bookkeeping (`Channel.conn_or_acquire`); with redis-py 7 each one copies a
table of ~200 response callbacks into a case-insensitive dict. In the worker's main thread
that was most of its time: every task's delivery (the unacked-hash write), its
acknowledgement and each flush of the task events for Flower built one (py-spy on the worker
under `bench/run drain`). A `redis.Redis` is safe to share between threads (each command takes
a connection from the pool; a pipeline is a new object per call), so the channel keeps one,
built on the same connection pool as before: nothing else changes, not the commands, not the
pool, not what a connection fault does.

Selected for every process by `broker_transport` in `celeryconfig.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.objects import cached_property


class Channel(kombu_redis.Channel):
    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client if client else self._shared_client

    @cached_property
    def _shared_client(self) -> Any:
        return self._create_client()


class Transport(kombu_redis.Transport):
    Channel = Channel
