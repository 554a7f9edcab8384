"""The moving average of processing times that status polls show as the expected wait
(services/status_cache.py): moved by each completed job, in the round trip that publishes the
completion, atomically, so workers finishing together all count."""

from __future__ import annotations

import threading
import time
from typing import cast

import pytest

from models.job.snapshot import StatusSnapshot
from services import jobs
from services.redis_client import get_redis
from services.status_cache import AVERAGE_KEY, AVERAGE_WEIGHT, get_status_cache
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, new_job

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _average() -> float | None:
    raw = cast(bytes | None, get_redis().get(AVERAGE_KEY))
    return float(raw) if raw is not None else None


def _completed(generation_id: int) -> StatusSnapshot:
    now = time.time()
    return StatusSnapshot(id=generation_id, user_id=1, status="completed", progress=100,
                          progress_at=now, created_at=now)


def test_a_completed_job_moves_the_average_by_its_weight() -> None:
    get_redis().delete(AVERAGE_KEY)
    user_id = funded_user(credits=2)
    for seconds in (10.0, 20.0):
        with unit_of_work() as db_session:
            job_id = new_job(db_session, user_id).id
            db_session.commit()
        claimed = jobs.claim(job_id)
        assert claimed is not None
        assert jobs.complete(claimed, result_keys=[], thumbnail_key="thumbnails/1/x.jpg",
                             metadata={"processingTime": seconds})
        if seconds == 10.0:
            assert _average() == 10.0  # the first time is the average

    assert _average() == pytest.approx((1 - AVERAGE_WEIGHT) * 10.0 + AVERAGE_WEIGHT * 20.0,
                                       abs=0.001)


def test_a_publish_without_a_processing_time_leaves_the_average_alone() -> None:
    get_redis().set(AVERAGE_KEY, "7.000")
    get_status_cache().publish(_completed(10_000_001))
    get_status_cache().publish_all([_completed(10_000_002), _completed(10_000_003)],
                                   processing_seconds={})
    assert _average() == 7.0


def test_times_published_at_once_by_many_threads_all_count() -> None:
    get_redis().set(AVERAGE_KEY, "0")
    cache = get_status_cache()
    threads = [threading.Thread(target=cache.publish, args=(_completed(10_000_100 + index),),
                                kwargs={"processing_seconds": 100.0})
               for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Eight updates towards 100 from 0, in whatever order: 100 * (1 - 0.8 ** 8), if none was
    # lost to a read-then-write race (a lost one leaves the average lower).
    expected = 100.0 * (1 - (1 - AVERAGE_WEIGHT) ** 8)
    assert _average() == pytest.approx(expected, abs=0.01)


def test_a_batch_publish_counts_each_completed_job_once() -> None:
    get_redis().set(AVERAGE_KEY, "0")
    get_status_cache().publish_all([_completed(10_000_201), _completed(10_000_202)],
                                   processing_seconds={10_000_201: 50.0})
    assert _average() == pytest.approx(AVERAGE_WEIGHT * 50.0, abs=0.001)
