"""The moving average of processing times that status polls show as the expected wait
(services/status_cache.py): one script per job, so workers finishing together all count."""

from __future__ import annotations

import threading
from typing import cast

import pytest

from services.redis_client import get_redis
from services.status_cache import AVERAGE_KEY, AVERAGE_WEIGHT, get_status_cache

pytestmark = pytest.mark.usefixtures("stack")


def _average() -> float | None:
    raw = cast(bytes | None, get_redis().get(AVERAGE_KEY))
    return float(raw) if raw is not None else None


def test_the_first_time_is_the_average_then_each_moves_it_by_its_weight() -> None:
    get_redis().delete(AVERAGE_KEY)
    cache = get_status_cache()

    cache.record_processing_time(10.0)
    assert _average() == 10.0

    cache.record_processing_time(20.0)
    assert _average() == pytest.approx((1 - AVERAGE_WEIGHT) * 10.0 + AVERAGE_WEIGHT * 20.0,
                                       abs=0.001)


def test_times_recorded_at_once_by_many_threads_all_count() -> None:
    get_redis().delete(AVERAGE_KEY)
    cache = get_status_cache()
    cache.record_processing_time(0.0)
    threads = [threading.Thread(target=cache.record_processing_time, args=(100.0,))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Eight updates towards 100 from 0, in whatever order: 100 * (1 - 0.8 ** 8), if none was
    # lost to a read-then-write race (a lost one leaves the average lower).
    expected = 100.0 * (1 - (1 - AVERAGE_WEIGHT) ** 8)
    assert _average() == pytest.approx(expected, abs=0.01)
