"""Handing a committed job to the workers: the one place that publishes `headshots.generate`."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from workers.tasks import generate_headshot

# What a broker that cannot take the message raises.
BROKER_FAULTS = (BrokerError, RedisError, OSError)


def enqueue_generation(generation_id: int) -> None:
    """Publish the job's task (ids only: the worker reads the row). Raises BROKER_FAULTS."""
    generate_headshot.apply_async(args=[generation_id])
