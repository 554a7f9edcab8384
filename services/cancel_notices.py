"""Word to the workers that a job was cancelled, so the one calling GetImg for it stops now.

The cancel is the truth in PostgreSQL the moment it commits, and a worker's lease renewal finds
it there (`workers/leases.py`), but only at its next renewal, up to JOB_LEASE_RENEW_SECONDS
later: meanwhile the GetImg call would hold its slot for a job nobody will get. So the
after-commit path publishes the cancelled job's id on one Redis channel, and every worker
process listens: the one holding the job renews its leases at once, which finds the job gone
and abandons its call.

Pub/sub delivers to whoever listens at that moment: a notice missed (a worker reconnecting,
Redis away) only means the renewal notices the cancel at its usual time instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import RedisError

from services.redis_client import get_redis

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0  # between tries while Redis is away


def cancel_channel(redis: Redis) -> str:
    """The channel of cancels. Channels live in no numbered database: the database's number in
    the name keeps deployments sharing a Redis server from stopping each other's jobs."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"headshots:db{database}:cancelled"


def publish_cancelled(generation_ids: Sequence[int]) -> None:
    """Tell the workers these jobs were cancelled (committed). Never raises: the renewal
    notices the cancel anyway."""
    if not generation_ids:
        return
    redis = get_redis()
    channel = cancel_channel(redis)
    try:
        with redis.pipeline(transaction=False) as pipe:
            for generation_id in generation_ids:
                pipe.publish(channel, str(generation_id))
            pipe.execute()
    except RedisError:
        log.warning("cancel notices: could not publish %s", list(generation_ids), exc_info=True)


def listen_for_cancels(on_cancelled: Callable[[int], None]) -> None:
    """Call `on_cancelled` with each cancelled job's id as its notice arrives; runs for good
    (a thread's body), subscribing again after any Redis fault."""
    outage = False  # said once per outage, not at every try
    while True:
        redis = get_redis()
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(cancel_channel(redis))
            if outage:
                log.info("cancel notices: listening again")
                outage = False
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    _deliver(message.get("data"), on_cancelled)
        except RedisError:
            if not outage:
                log.warning("cancel notices: Redis unreachable; the lease renewal notices "
                            "cancels meanwhile")
            outage = True
        except Exception:  # a bug in a handler must not end the listening
            log.exception("cancel notices: listener failed; listening again shortly")
        finally:
            pubsub.close()
        time.sleep(RECONNECT_SECONDS)


def _deliver(data: object, on_cancelled: Callable[[int], None]) -> None:
    try:
        generation_id = int(data)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        log.warning("cancel notices: ignored %r", data)
        return
    on_cancelled(generation_id)
