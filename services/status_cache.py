"""Job status in Redis, so a status poll needs no database transaction.

Every committed state change is published here by the after-commit path
(`services/after_commit.py`): SET + PUBLISH in one round trip.
PostgreSQL stays the truth: a missing key means "ask the database", and the keys of unfinished
jobs expire quickly so a snapshot lost to a Redis fault is refreshed from the database soon.
Redis errors are logged, never raised: the cache must not break a job or a request.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis
from redis.client import PubSub
from redis.exceptions import NoScriptError, RedisError

from config import per_settings
from models.job.snapshot import StatusSnapshot
from services.redis_client import get_redis

log = logging.getLogger(__name__)

QUEUE_KEY = "headshots:queue"  # sorted set of queued job ids, scored by time of queueing
AVERAGE_KEY = "headshots:avg-processing-seconds"
UNFINISHED_TTL_SECONDS = 30
# Each unfinished job's entry lives 30-45 s, not exactly 30: jobs created together (a batch, a
# burst) would otherwise all expire together and send their next polls to PostgreSQL at once,
# past the pool's kept connections, so that polls would pay for opening new ones.
UNFINISHED_TTL_SPREAD_SECONDS = 15
FINISHED_TTL_SECONDS = 24 * 3600
AVERAGE_WEIGHT = 0.2  # exponential moving average: weight of the newest job
# What a deleted job's key holds for a day: newer than any snapshot, so a poll that read the row
# before the delete committed cannot put the job back into the cache after it (the script below
# refuses anything older); a reader sees no snapshot and asks the database, which says 404.
TOMBSTONE = json.dumps({"deleted": True, "progress_at": 1e300})


# Writes a snapshot unless the cache already holds a newer one (by `progress_at`, which every
# transition advances), so a slow writer can never put an older state back. Also keeps the
# queue set in step and notifies stream listeners, all atomically. With a completed job's
# processing time (ARGV[6], else empty), first moves the expected-wait average (KEYS[3]) by it,
# weighted ARGV[7]: in the completion's own round trip, not two more of its own (a GET then a
# SET, each a wait on Redis in every job), and atomically, so two workers finishing together
# both count.
PUBLISH_IF_NEWER = """
if ARGV[6] ~= '' then
  local previous = tonumber(redis.call('GET', KEYS[3]))
  local newest = tonumber(ARGV[6])
  local average = newest
  if previous then average = (1 - tonumber(ARGV[7])) * previous + tonumber(ARGV[7]) * newest end
  redis.call('SET', KEYS[3], string.format('%.3f', average))
end
local current = redis.call('GET', KEYS[1])
if current then
  local ok, held = pcall(cjson.decode, current)
  if ok and tonumber(held['progress_at']) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
if ARGV[4] == 'queued' then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[5])
else
  redis.call('ZREM', KEYS[2], ARGV[5])
end
redis.call('PUBLISH', ARGV[8], ARGV[1])
return 1
"""


# Take a lease of `lease` of a reader's poll numbers (services/poll_budget.py) from the
# counter `key`, which lives `ttl` seconds from its first lease: the counter's value after it.
_TAKE_LEASE = """
local function take_lease(key, lease, ttl)
  local polls = redis.call('INCRBY', key, lease)
  if polls == lease then redis.call('EXPIRE', key, ttl) end
  return polls
end
"""
# What a status poll reads, and a lease of the reader's poll numbers taken (ARGV[3] of them; 0:
# none), as one script: one command to pack and one reply to parse instead of a pipeline of
# five, whose packing and parsing were a visible share of a poll. A nil is returned as false, which
# redis-py hands back as None.
READ_AND_COUNT = _TAKE_LEASE + """
local raw = redis.call('GET', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
local average = redis.call('GET', KEYS[3])
local polls = false
local lease = tonumber(ARGV[3])
if lease > 0 then polls = take_lease(KEYS[4], lease, tonumber(ARGV[2])) end
return {raw, rank, average, polls}
"""
# A lease of the reader's poll numbers alone, for a poll the status mirror answered.
COUNT = _TAKE_LEASE + """
return take_lease(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
POLL_COUNTER_TTL_SECONDS = 120  # a counter per clock minute: gone a minute after its own


Updates = Generator["StatusSnapshot | None", None, None]


def status_key(job_id: int) -> str:
    return f"headshots:status:{job_id}"


def status_channel(redis: Redis, job_id: int | str) -> str:
    """Where the job's changes are published (`*`: a pattern for every job's). A key lives in
    one of the server's numbered databases, a channel in none: the database's number in the
    name keeps deployments that share a Redis server, each on its own database, from hearing
    each other's jobs (a status mirror or a stream would show another's job of the same id)."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"headshots:db{database}:status:{job_id}"


def _poll_counter(reader: int, minute: int) -> str:
    return f"headshots:polls:{reader}:{minute}"  # gone a minute after its own


@dataclass(frozen=True)
class CachedStatus:
    snapshot: StatusSnapshot | None
    jobs_ahead: int | None  # queued jobs older than this one, when it is queued
    average_seconds: float | None
    polls_this_minute: int = 0  # this read's number among the reader's reads this minute


def _publish_args(snapshot: StatusSnapshot, processing_seconds: float | None, channel: str
                  ) -> list[Any]:
    """PUBLISH_IF_NEWER's arguments: the snapshot, its version, how long it lives, its queue
    entry, the processing time to count into the average, if any, and the job's channel."""
    ttl = (FINISHED_TTL_SECONDS if snapshot.finished
           else UNFINISHED_TTL_SECONDS + random.randint(0, UNFINISHED_TTL_SPREAD_SECONDS))
    return [json.dumps(snapshot.to_dict()), repr(snapshot.progress_at), ttl, snapshot.status,
            snapshot.id, "" if processing_seconds is None else repr(float(processing_seconds)),
            repr(AVERAGE_WEIGHT), channel]


_PUBLISH_KEYS = (QUEUE_KEY, AVERAGE_KEY)


class StatusCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publish_if_newer = redis.register_script(PUBLISH_IF_NEWER)
        self._read_and_count = redis.register_script(READ_AND_COUNT)
        self._count = redis.register_script(COUNT)

    def publish(self, snapshot: StatusSnapshot, *,
                processing_seconds: float | None = None) -> None:
        """Publish the snapshot; with `processing_seconds` (a completed job's), count it into
        the expected-wait average too, in the same round trip."""
        try:
            self._publish_if_newer(keys=[status_key(snapshot.id), *_PUBLISH_KEYS],
                                   args=_publish_args(snapshot, processing_seconds,
                                                      status_channel(self._redis, snapshot.id)))
        except RedisError:
            log.warning("status cache: could not publish job %s", snapshot.id, exc_info=True)

    def publish_all(self, snapshots: Sequence[StatusSnapshot], *,
                    processing_seconds: Mapping[int, float] | None = None) -> None:
        """`publish` each, in order, in one round trip (a batch's queued jobs); the processing
        times are the completed jobs' among them, by job id."""
        times = processing_seconds or {}
        if len(snapshots) < 2:
            for snapshot in snapshots:
                self.publish(snapshot, processing_seconds=times.get(snapshot.id))
            return
        try:
            self._publish_pipelined(snapshots, times)
        except NoScriptError:  # Redis lost its scripts (a restart): `publish` loads it again
            for snapshot in snapshots:
                self.publish(snapshot, processing_seconds=times.get(snapshot.id))
        except RedisError:
            log.warning("status cache: could not publish jobs %s",
                        [snapshot.id for snapshot in snapshots], exc_info=True)

    def _publish_pipelined(self, snapshots: Sequence[StatusSnapshot],
                           times: Mapping[int, float]) -> None:
        # EVALSHA itself, not the Script object: a pipeline given a Script first asks Redis
        # whether it holds the script (SCRIPT EXISTS), a round trip of its own before every
        # batch, for an answer that is nearly always yes. When Redis does not
        # hold it (never loaded yet, or lost in a restart), the commands fail with NOSCRIPT
        # and `publish_all` publishes each again; a snapshot written twice is harmless (the
        # script keeps the newest, and a stream shows an unchanged status once).
        sha = self._publish_if_newer.sha
        with self._redis.pipeline(transaction=False) as pipe:
            for snapshot in snapshots:
                pipe.evalsha(sha, 1 + len(_PUBLISH_KEYS), status_key(snapshot.id),
                             *_PUBLISH_KEYS, *_publish_args(
                                 snapshot, times.get(snapshot.id),
                                 status_channel(self._redis, snapshot.id)))
            pipe.execute()

    def read(self, job_id: int, *, reader: int, minute: int = 0, lease: int = 0
             ) -> tuple[CachedStatus, int | None]:
        """The job's cached status, and a lease of `lease` of the reader's poll numbers for
        `minute` taken, in one round trip: a rate limiter of its own would double the cost of
        a poll. The lease is given as the counter's value after it (None: none taken)."""
        try:
            raw, rank, average, polls = self._read_and_count(
                keys=[status_key(job_id), QUEUE_KEY, AVERAGE_KEY,
                      _poll_counter(reader, minute)],
                args=[str(job_id), POLL_COUNTER_TTL_SECONDS, lease],
            )
        except RedisError:
            log.warning("status cache: could not read job %s", job_id, exc_info=True)
            return CachedStatus(None, None, None), None
        held = json.loads(raw) if raw else None
        snapshot = StatusSnapshot(**held) if held and not held.get("deleted") else None
        return CachedStatus(
            snapshot, int(rank) if rank is not None else None,
            float(average) if average else None,
        ), int(polls) if polls is not None else None

    def count_polls(self, *, reader: int, minute: int, lease: int) -> int | None:
        """Take a lease of `lease` of the reader's poll numbers for `minute`: the counter's
        value after it, or None if Redis did not answer."""
        try:
            return int(self._count(keys=[_poll_counter(reader, minute)],
                                   args=[lease, POLL_COUNTER_TTL_SECONDS]))
        except RedisError:
            log.warning("status cache: could not count user %s's polls", reader, exc_info=True)
            return None

    def average_seconds(self) -> float | None:
        try:
            average = cast(bytes | None, self._redis.get(AVERAGE_KEY))
        except RedisError:
            log.warning("status cache: could not read the average", exc_info=True)
            return None
        return float(average) if average else None

    def forget(self, job_id: int) -> None:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(status_key(job_id), TOMBSTONE, ex=FINISHED_TTL_SECONDS)
                pipe.zrem(QUEUE_KEY, str(job_id))
                # Mirrors forget it, streams of it end.
                pipe.publish(status_channel(self._redis, job_id), TOMBSTONE)
                pipe.execute()
        except RedisError:
            log.warning("status cache: could not forget job %s", job_id, exc_info=True)


@per_settings
def get_status_cache() -> StatusCache:
    return StatusCache(get_redis())


def status_updates(job_id: int, *, timeout: float) -> Updates:
    """Snapshots published for the job as they happen; None about once a second in between.

    Subscribes at once, before returning, so a caller that reads the current state after
    calling this cannot miss a change in between.
    """
    redis = get_redis()
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(status_channel(redis, job_id))
    return _published(pubsub, deadline=time.monotonic() + timeout)


def _published(pubsub: PubSub, *, deadline: float) -> Updates:
    try:
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            held = json.loads(message["data"]) if message else None
            if held is not None and held.get("deleted"):
                return  # the job was deleted: nothing more will happen to it
            yield StatusSnapshot(**held) if held is not None else None
    finally:
        pubsub.close()
