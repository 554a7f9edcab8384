"""Draining the queue: N charged jobs queued (worker stopped), then the Procfile's worker (one
process, threads pool, 16) started; wall time from `ready` to the last job completed, against
the ideal N × latency / concurrency, and the worker's CPU and RSS around it.

The jobs are queued in this process through the domain (one transaction, then one publish
each), as the API would, so that queueing 1000 of them takes seconds, not minutes.
"""

from __future__ import annotations

import os
import time

import psycopg2

from bench.harness import (
    WORKER_CONCURRENCY,
    BenchStack,
    bare_worker_service,
    bench_stack,
    cpu_seconds,
    rss_mib,
)
from bench.table import Row
from devstack.processes import REPO_ROOT, wait_for_worker
from devstack.waiting import wait_until

# The shared PostgreSQL may refuse a connection for a moment (max_connections): not yet.
POLL_FAULTS: tuple[type[BaseException], ...] = (psycopg2.OperationalError,)
# BENCH_DRAIN_JOBS: a shorter drain for quick before/after looks (the table's figure is 1000).
JOBS = int(os.environ.get("BENCH_DRAIN_JOBS", "1000"))
LATENCY_SECONDS = 2.0


def queue_jobs(count: int, user_id: int) -> list[int]:
    from media import get_storage
    from media.images import sanitize_upload
    from media.storage import new_key
    from models.credits import grant_credits
    from models.job.creation import create_job
    from models.styles import get_active_style
    from models.uploads import record_upload
    from models.users import ensure_user
    from services.queue import enqueue_job
    from services.unit_of_work import unit_of_work

    image = sanitize_upload((REPO_ROOT / "assets" / "sample-selfie.jpg").read_bytes())
    ids = []
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=count, reason="bench")
        key = new_key("originals", user_id, image.extension)
        get_storage().put(key, image.data, image.content_type)
        upload = record_upload(db_session, user_id=user_id, storage_key=key,
                               content_type=image.content_type, size_bytes=len(image.data),
                               width=image.width, height=image.height)
        style = get_active_style(db_session, "corporate")
        for _ in range(count):
            generation = create_job(db_session, user_id=user_id, upload=upload,
                                           style=style, aspect_ratio="1:1")
            ids.append(generation.id)
        db_session.commit()
    for generation_id in ids:
        enqueue_job(generation_id)
    return ids


def finished_count(database_url: str, ids: list[int]) -> tuple[int, int]:
    """(completed, failed) among `ids`."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FILTER (WHERE status = 'completed'), "
                           "count(*) FILTER (WHERE status = 'failed') "
                           "FROM headshot_generations WHERE id = ANY(%s)", (ids,))
            completed, failed = cursor.fetchone()
            return int(completed), int(failed)
    finally:
        connection.close()


def _drain(stack: BenchStack, count: int, timeout: float) -> tuple[float, float, float, float]:
    """(wall seconds, worker CPU ms per job, RSS MiB after the first tenth, RSS MiB after)."""
    ids = queue_jobs(count, user_id=5000)
    stack.web.stop()  # not part of this benchmark: its CPU is the worker's to use
    worker = stack.worker().start()
    try:
        wait_for_worker(worker, timeout=60)
        start, cpu_start = time.monotonic(), cpu_seconds(worker)
        # RSS from once the first tenth is done: its threads, pools and Pillow are warm by
        # then; growth after that is what would keep growing.
        wait_until(lambda: sum(finished_count(stack.database_url, ids)) >= count // 10,
                   timeout=timeout, interval=0.2, message=f"{count // 10} jobs to finish",
                   ignore=POLL_FAULTS)
        rss_start = rss_mib(worker)
        wait_until(lambda: sum(finished_count(stack.database_url, ids)) == count,
                   timeout=timeout, interval=0.2, message=f"{count} jobs to finish",
                   ignore=POLL_FAULTS)
        took = time.monotonic() - start
        cpu_ms = (cpu_seconds(worker) - cpu_start) * 1000 / count
        rss_end = rss_mib(worker)
        completed, failed = finished_count(stack.database_url, ids)
        if failed:
            raise RuntimeError(f"{failed} of {count} jobs failed: see {worker.log_path}")
    finally:
        worker.stop()
    return took, cpu_ms, rss_start, rss_end


def _bare_drain(stack: BenchStack, count: int, timeout: float) -> float:
    """The baseline: `count` bare tasks (bench/bare_tasks.py) of the same wait drained by the
    bare worker; its CPU ms per task."""
    from bench import bare_tasks

    redis = bare_tasks.redis
    redis.delete(bare_tasks.DONE_KEY, bare_tasks.READY_KEY)
    for _ in range(count):
        bare_tasks.wait.apply_async(args=[LATENCY_SECONDS])
    worker = bare_worker_service(stack.run_dir).start()
    try:
        wait_until(lambda: worker.check_running() and redis.exists(bare_tasks.READY_KEY),
                   timeout=60, message="the bare worker to be ready")
        cpu_start = cpu_seconds(worker)
        wait_until(lambda: bare_tasks.done_count() == count,
                   timeout=timeout, interval=0.2, message=f"{count} bare tasks to finish")
        return (cpu_seconds(worker) - cpu_start) * 1000 / count
    finally:
        worker.stop()


def run(runs: int) -> list[Row]:
    """One drain of 1000 jobs (≥ 125 s ideal): three would not fit the 10 minutes. Then the
    bare worker drains a third as many tasks (its CPU per task is steady long before)."""
    with bench_stack("drain", getimg_latency_ms=int(LATENCY_SECONDS * 1000)) as stack:
        took, cpu_ms, rss_start, rss_end = _drain(stack, JOBS, timeout=900)
        bare_cpu_ms = _bare_drain(stack, max(JOBS // 3, 16), timeout=600)
    ideal = JOBS * LATENCY_SECONDS / WORKER_CONCURRENCY
    growth = (rss_end - rss_start) / rss_start * 100
    return [
        Row(f"drain {JOBS} jobs, latency {LATENCY_SECONDS:.0f} s, threads 16", "wall time",
            [took], "s", "ideal N × 2 s / 16", [ideal], "≤ 1.15×", took / ideal <= 1.15),
        Row("drain", "worker CPU per job", [cpu_ms], "ms", "bare Celery task, same wait",
            [bare_cpu_ms], "≤ 25 ms", cpu_ms <= 25),
        Row("memory: worker RSS", f"growth over jobs {JOBS // 10}–{JOBS}", [growth], "%",
            f"{rss_start:.0f} → {rss_end:.0f} MiB", (), "< 10 %", growth < 10),
    ]
