"""Slots for open status streams, counted in Redis so every web process on every host agrees.

A stream holds one slot from its first byte to its end. Each slot is a member of two sorted
sets, every stream's and its user's, scored by the last time its stream renewed it (Redis's
clock, so hosts' clocks never disagree). A slot not renewed within STREAM_LEASE_SECONDS is
stale, and every acquire prunes the stale ones first: the slots of a web process that died
(no `finally` ran) free themselves within the lease.

Redis errors are logged and let the stream open: the bound protects the service from too many
streams, and with Redis down no stream can follow a job anyway.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from config import get_settings, per_settings
from models.errors import RateLimited
from services.redis_client import get_redis

log = logging.getLogger(__name__)

ALL_KEY = "headshots:streams"  # sorted set: every open stream's slot, scored by renewal time


def user_key(user_id: int) -> str:
    return f"headshots:streams:user:{user_id}"


ACQUIRED, USER_FULL, SERVICE_FULL = 0, 1, 2

# Each script's KEYS: every slot, the user's slots; ARGV[1]: the slot.
# ARGV: lease seconds, per-user and total bounds. Returns ACQUIRED, USER_FULL or SERVICE_FULL.
ACQUIRE_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - lease)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('EXPIRE', KEYS[2], math.ceil(lease) * 2)
return 0
"""
# ARGV: lease seconds. Only a slot still held is renewed (XX): one pruned as stale stays gone
# rather than coming back over the bound.
RENEW_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[2])) * 2)
return 0
"""
RELEASE_SCRIPT = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
"""


class TooManyStreams(RateLimited):
    """429: the user, or the service, has as many status streams open as it allows."""

    code = "too_many_streams"


@dataclass
class StreamSlot:
    """One open stream's slot: `renew()` it while streaming (it renews at most every third of
    the lease, so calling it at each tick is cheap) and `release()` it when the stream ends."""

    slots: StreamSlots
    user_id: int
    slot_id: str
    renewed_at: float

    def renew(self, now: float) -> None:
        if now - self.renewed_at >= self.slots.lease_seconds / 3:
            self.slots.call(RENEW_SCRIPT, self, self.slots.lease_seconds)
            self.renewed_at = now

    def release(self) -> None:
        self.slots.call(RELEASE_SCRIPT, self)


class StreamSlots:
    def __init__(self, redis: Redis) -> None:
        self._scripts = {source: redis.register_script(source)
                         for source in (ACQUIRE_SCRIPT, RENEW_SCRIPT, RELEASE_SCRIPT)}
        self.lease_seconds = get_settings().stream_lease_seconds

    def acquire(self, user_id: int, *, now: float) -> StreamSlot:
        """A slot for one more of the user's streams; raises TooManyStreams past either bound."""
        settings = get_settings()
        slot = StreamSlot(self, user_id, uuid.uuid4().hex, now)
        refused = self.call(ACQUIRE_SCRIPT, slot, self.lease_seconds,
                            settings.stream_max_per_user, settings.stream_max_open)
        # A slot frees when a stream ends or, for one whose process died, its lease runs out.
        retry_after = math.ceil(self.lease_seconds)
        if refused == USER_FULL:
            raise TooManyStreams(f"at most {settings.stream_max_per_user} status streams open "
                                 "at once per user; poll the status instead",
                                 retry_after=retry_after)
        if refused == SERVICE_FULL:
            raise TooManyStreams("the service has as many status streams open as it allows; "
                                 "poll the status instead", retry_after=retry_after)
        return slot

    def call(self, script: str, slot: StreamSlot, *args: float) -> int:
        try:
            return int(self._scripts[script](keys=[ALL_KEY, user_key(slot.user_id)],
                                             args=[slot.slot_id, *args]))
        except RedisError:
            log.warning("stream slots: Redis failed on slot %s of user %s", slot.slot_id,
                        slot.user_id, exc_info=True)
            return ACQUIRED


@per_settings
def get_stream_slots() -> StreamSlots:
    return StreamSlots(get_redis())
