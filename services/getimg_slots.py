"""One GetImg account, many workers: the limit on calls in flight (GETIMG_MAX_CONCURRENCY) and
GetImg's "slow down" answers, shared through Redis by every worker process on every host.

- Slots: a semaphore whose holders have leases. A sorted set maps each holder (one GetImg
  call) to its lease's expiry, in Redis's own clock; taking a slot first drops the expired
  holders, so a worker that dies without releasing frees its slots a lease later. A holder
  renews its lease while its call runs (`workers/leases.py`) and releases it in `finally`.
- Pause: a 429's Retry-After (or X-RateLimit-Reset) becomes one key whose time to live is the
  pause; every worker waits it out before calling, so one job's 429 slows everyone down
  instead of every worker finding out for itself.

Redis unreachable: the call goes ahead without a slot (logged). Redis down means no new
messages either, so only the attempts already under way could overshoot, and GetImg's own 429
still guards the account; failing every job for a broken counter would be worse. After Redis
comes back empty the holders still running are not in the new set, so for one call's duration
the limit can be exceeded by at most those.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import cast

from redis.commands.core import Script
from redis.exceptions import RedisError

from config import get_settings, per_settings
from services.redis_client import get_redis

log = logging.getLogger(__name__)

HOLDERS_KEY = "headshots:getimg:slots"
PAUSE_KEY = "headshots:getimg:paused"
POLL_SECONDS = 0.2  # between tries for a slot: a GetImg call takes seconds

# KEYS[1] holders, KEYS[2] pause; ARGV holder, limit, lease ms. 1 if the holder has a slot
# now, 0 if none is free, or minus the milliseconds left of a pause (then nothing is taken):
# the pause check and the take in one round trip.
_ACQUIRE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return -paused end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or
   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease)
  return 1
end
return 0
"""
# KEYS[1] holders; ARGV lease ms, holders... Extends the leases of those still held.
_RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lease = tonumber(ARGV[1])
local renewed = 0
for index = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[index])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], lease) end
return renewed
"""
# KEYS[1] pause; ARGV pause ms. Never shortens a longer pause already set.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return redis.call('PTTL', KEYS[1])
"""


@dataclass(frozen=True)
class _Scripts:
    """The Lua scripts, sent by SHA (EVALSHA) once Redis has them, not as text on every call."""

    acquire: Script
    renew: Script
    pause: Script


@per_settings
def _scripts() -> _Scripts:
    redis = get_redis()
    return _Scripts(redis.register_script(_ACQUIRE), redis.register_script(_RENEW),
                    redis.register_script(_PAUSE))


def new_holder() -> str:
    return uuid.uuid4().hex


def _lease_ms() -> int:
    return max(1, int(get_settings().job_lease_seconds * 1000))


def _take(holder: str) -> int:
    """1: `holder` has a slot; 0: none free; negative: paused that many milliseconds more."""
    return cast(int, _scripts().acquire(
        keys=[HOLDERS_KEY, PAUSE_KEY],
        args=[holder, get_settings().getimg_max_concurrency, _lease_ms()]))


def try_acquire(holder: str) -> bool:
    """Take a slot for `holder` if one is free (or it already has one) and no pause is on.
    Raises RedisError."""
    return _take(holder) == 1


def paused_for() -> float:
    """Seconds left of the pause GetImg asked for (0: none). Raises RedisError."""
    left_ms = cast(int, get_redis().pttl(PAUSE_KEY))  # -2: no key, -1: no expiry (never set so)
    return max(0.0, left_ms / 1000)


def acquire(holder: str, *, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the pause to pass and a slot to be free; True once
    `holder` has one (or Redis is unreachable), False if the wait ran out. One round trip a
    try (a free slot: one per job)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            taken = _take(holder)
            if taken == 1:
                return True
            if left <= 0:
                return False
            # Jitter, so the waiting workers do not all try again in the same instant.
            wait = -taken / 1000 if taken < 0 else POLL_SECONDS * random.uniform(0.5, 1.5)
            time.sleep(min(wait, left))
    except RedisError:
        log.warning("GetImg slots: Redis unreachable; calling GetImg without a slot",
                    exc_info=True)
        return True


def renew(holders: list[str]) -> int:
    """Extend the leases of these holders' slots; how many were still held. Raises RedisError."""
    if not holders:
        return 0
    return cast(int, _scripts().renew(keys=[HOLDERS_KEY], args=[_lease_ms(), *holders]))


def release(holder: str) -> None:
    try:
        get_redis().zrem(HOLDERS_KEY, holder)
    except RedisError:  # the lease runs out by itself
        log.warning("GetImg slots: could not release %s", holder, exc_info=True)


def pause(seconds: float) -> None:
    """Make every worker wait `seconds` before its next GetImg call (a longer pause stays)."""
    if seconds <= 0:
        return
    try:
        _scripts().pause(keys=[PAUSE_KEY], args=[max(1, int(seconds * 1000))])
    except RedisError:
        log.warning("GetImg pause: Redis unreachable; not shared", exc_info=True)


def holders_now() -> int:
    """Slots taken right now (expired holders excluded), for tests and metrics."""
    redis = get_redis()
    seconds, micros = cast(tuple[int, int], redis.time())
    return cast(int, redis.zcount(HOLDERS_KEY, seconds * 1000 + micros // 1000 + 1, "+inf"))
