"""Which Celery pool fits a job that waits seconds on GetImg? This service's own task, end to end.

    ./run bench worker_pool

Queues N real jobs (charged, in PostgreSQL), with the fake GetImg answering each call after a
fixed latency, then starts one worker with each pool and times from `ready` until every job is
completed. The ideal is ceil(N / concurrency) x latency; the overhead column is what the pool,
the database writes, the image work and the status publishing add on top.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import bench_stack  # noqa: E402
from devstack.processes import (  # noqa: E402
    REPO_ROOT,
    Service,
    wait_for_worker,
    worker_service,
)
from devstack.waiting import wait_until  # noqa: E402

JOBS = 48
LATENCY_SECONDS = 1.0
POOLS = [("prefork", 2), ("threads", 16), ("threads", 32)]


def _queue_jobs(count: int, first_user: int) -> list[int]:
    from media import get_storage
    from media.images import sanitize_upload
    from media.storage import new_key
    from models.credits import grant_credits
    from models.jobs import create_generation
    from models.styles import get_active_style
    from models.uploads import record_upload
    from models.users import ensure_user
    from services.unit_of_work import unit_of_work
    from workers.tasks import generate_headshot

    image = sanitize_upload((REPO_ROOT / "assets" / "sample-selfie.jpg").read_bytes())
    ids = []
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=first_user)
        grant_credits(db_session, user_id=first_user, amount=count, reason="bench")
        key = new_key("originals", first_user, image.extension)
        get_storage().put(key, image.data, image.content_type)
        upload = record_upload(db_session, user_id=first_user, storage_key=key,
                               content_type=image.content_type, size_bytes=len(image.data),
                               width=image.width, height=image.height)
        style = get_active_style(db_session, "corporate")
        for _ in range(count):
            generation = create_generation(db_session, user_id=first_user, upload=upload,
                                           style=style, aspect_ratio="1:1")
            ids.append(generation.id)
        db_session.commit()
    for generation_id in ids:
        generate_headshot.apply_async(args=[generation_id])
    return ids


def _completed(ids: list[int]) -> int:
    from sqlalchemy import func, select

    from models.generations import HeadshotGeneration
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return int(db_session.scalar(
            select(func.count()).select_from(HeadshotGeneration)
            .where(HeadshotGeneration.id.in_(ids), HeadshotGeneration.status == "completed")
        ) or 0)


def _drain_time(worker: Service, ids: list[int]) -> float:
    wait_for_worker(worker, timeout=60)
    start = time.monotonic()
    wait_until(lambda: _completed(ids) == JOBS, timeout=300, interval=0.05, message="all jobs")
    return time.monotonic() - start


def main() -> None:
    rows = []
    with bench_stack(getimg_latency_ms=int(LATENCY_SECONDS * 1000)) as stack:
        for index, (pool, concurrency) in enumerate(POOLS):
            ids = _queue_jobs(JOBS, first_user=1000 + index)
            worker = worker_service(f"worker-{pool}-{concurrency}", stack.run_dir, pool=pool,
                                    concurrency=concurrency, queues="headshots").start()
            try:
                took = _drain_time(worker, ids)
            finally:
                worker.stop()
            ideal = math.ceil(JOBS / concurrency) * LATENCY_SECONDS
            rows.append((f"{pool} -c {concurrency}", took, ideal))
    print(f"{JOBS} jobs, fake GetImg latency {LATENCY_SECONDS:.1f} s, one worker process tree")
    print(f"{'pool':16} {'drain s':>8} {'ideal s':>8} {'jobs/s':>7} {'overhead':>9}")
    for name, took, ideal in rows:
        print(f"{name:16} {took:8.2f} {ideal:8.2f} {JOBS / took:7.1f} {took / ideal:8.2f}x")


if __name__ == "__main__":
    main()
