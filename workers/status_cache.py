"""Job status in Redis, so a status poll needs no database transaction.

Whoever commits a state change publishes the new snapshot here (SET + PUBLISH in one round trip).
PostgreSQL stays the truth: a missing key means "ask the database", and the keys of unfinished
jobs expire quickly so a snapshot lost to a Redis fault is refreshed from the database soon.
Redis errors are logged, never raised: the cache must not break a job or a request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from models.generations import GenerationStatus, StatusSnapshot

log = logging.getLogger(__name__)

QUEUE_KEY = "headshots:queue"  # sorted set of queued job ids, scored by time of queueing
AVERAGE_KEY = "headshots:avg-processing-seconds"
UNFINISHED_TTL_SECONDS = 30
FINISHED_TTL_SECONDS = 24 * 3600
AVERAGE_WEIGHT = 0.2  # exponential moving average: weight of the newest job


def status_key(generation_id: int) -> str:
    return f"headshots:status:{generation_id}"


@dataclass(frozen=True)
class CachedStatus:
    snapshot: StatusSnapshot | None
    jobs_ahead: int | None  # queued jobs older than this one, when it is queued
    average_seconds: float | None


class StatusCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def publish(self, snapshot: StatusSnapshot) -> None:
        payload = json.dumps(snapshot.to_dict())
        ttl = FINISHED_TTL_SECONDS if snapshot.finished else UNFINISHED_TTL_SECONDS
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(status_key(snapshot.id), payload, ex=ttl)
                if snapshot.status == GenerationStatus.QUEUED:
                    pipe.zadd(QUEUE_KEY, {str(snapshot.id): snapshot.progress_at}, nx=True)
                else:
                    pipe.zrem(QUEUE_KEY, str(snapshot.id))
                pipe.publish(status_key(snapshot.id), payload)
                pipe.execute()
        except RedisError:
            log.warning("status cache: could not publish job %s", snapshot.id, exc_info=True)

    def read(self, generation_id: int) -> CachedStatus:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(status_key(generation_id))
                pipe.zrank(QUEUE_KEY, str(generation_id))
                pipe.get(AVERAGE_KEY)
                raw, rank, average = pipe.execute()
        except RedisError:
            log.warning("status cache: could not read job %s", generation_id, exc_info=True)
            return CachedStatus(None, None, None)
        snapshot = StatusSnapshot(**json.loads(raw)) if raw else None
        return CachedStatus(
            snapshot, int(rank) if rank is not None else None, float(average) if average else None
        )

    def forget(self, generation_id: int) -> None:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(status_key(generation_id))
                pipe.zrem(QUEUE_KEY, str(generation_id))
                pipe.execute()
        except RedisError:
            log.warning("status cache: could not forget job %s", generation_id, exc_info=True)

    def record_processing_time(self, seconds: float) -> None:
        try:
            previous = self._redis.get(AVERAGE_KEY)
            average = (
                seconds
                if previous is None
                else (1 - AVERAGE_WEIGHT) * float(previous) + AVERAGE_WEIGHT * seconds
            )
            self._redis.set(AVERAGE_KEY, f"{average:.3f}")
        except RedisError:
            log.warning("status cache: could not record a processing time", exc_info=True)
