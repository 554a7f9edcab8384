"""A Redis that may evict keys (Celery's queue among them) is reported: a loud warning at start
and in /readyz. Set on this run's own Redis with CONFIG SET, and set back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from services.health import warn_about_configuration
from services.redis_client import get_redis


@pytest.fixture
def evicting_redis(stack: dict[str, int]) -> Iterator[None]:
    redis = get_redis()
    redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        yield
    finally:
        redis.config_set("maxmemory-policy", "noeviction")


def test_readiness_is_clean_with_noeviction(client: Any) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.get_json()["warnings"] == []


def test_an_evicting_policy_is_reported_by_readiness(client: Any, evicting_redis: None) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200  # everything answers: a warning, not an outage
    warnings = answer.get_json()["warnings"]
    assert len(warnings) == 1 and "allkeys-lru" in warnings[0] and "noeviction" in warnings[0]


def test_an_evicting_policy_is_a_loud_warning_at_start(evicting_redis: None,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="services.health"):
        warn_about_configuration("web")
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "allkeys-lru" in record.getMessage()
