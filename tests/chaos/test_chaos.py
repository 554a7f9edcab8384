"""Scripted faults against the real stack; every scenario ends with `check_promise`.

A headshot you paid for either arrives or your credits come back, exactly once, whatever breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.assets import SELFIE
from tests.support.chaos.promise import (
    SUMMARY_LINES,
    check_promise,
    poll,
    processing_in_getimg,
)
from tests.support.chaos.stack import ChaosStack
from tests.support.errors import assert_error

Chaos = Callable[..., ChaosStack]


def test_sigkill_worker_during_getimg_call(chaos: Chaos) -> None:
    """The worker dies (SIGKILL, whole process group) while its jobs wait on GetImg. The
    reaper requeues them after their deadline, a new worker finishes them, and the dead
    worker's messages, delivered again, change nothing."""
    stack = chaos("sigkill-worker", fake={"latency_ms": 2000})
    user = stack.user(credits=6)
    jobs = [user.submit() for _ in range(6)]
    poll(lambda: len(processing_in_getimg(stack)) >= 4 and stack.fake_stats()["in_flight"] >= 4,
         timeout=20, message="jobs to be waiting on GetImg")
    victim = stack.workers[0]
    stack.kill(victim)
    in_getimg = processing_in_getimg(stack)
    redelivered = stack.expire_unacked()
    stack.add_worker()

    summary = check_promise(stack)
    assert summary.completed == len(jobs), summary
    assert redelivered >= len(in_getimg)
    attempts = {row["id"]: row["attempts"] for row in stack.db.rows(
        "SELECT id, attempts FROM headshot_generations")}
    assert all(attempts[job_id] >= 2 for job_id in in_getimg), attempts
    # Every GetImg call the dead worker started, and every one after, was a counted attempt.
    poll(lambda: stack.fake_stats()["in_flight"] == 0, timeout=10, message="GetImg idle")
    assert stack.fake_stats()["generation_calls"] <= sum(attempts.values())


def test_redis_restart_with_jobs_in_flight(chaos: Chaos) -> None:
    """Redis (no persistence) stops with jobs queued and processing, and starts again empty.
    While it is down, generate answers 503 and costs nothing, status still answers from
    PostgreSQL; afterwards the reaper republishes the lost jobs and all of them finish."""
    stack = chaos("redis-restart", concurrency=4, fake={"latency_ms": 1000})
    user = stack.user(credits=20)
    jobs = [user.submit() for _ in range(10)]
    poll(lambda: stack.db.statuses()["processing"] >= 2 and stack.db.statuses()["queued"] >= 2,
         timeout=20, message="jobs queued and processing")

    completed = stack.db.statuses()["completed"]
    stack.stop_redis()
    before = stack.db.credits(user.user_id)
    refused = user.generate(user.image_url)
    assert_error(refused, 503)
    assert stack.db.credits(user.user_id) == before, "a refused job cost credits"
    rows = stack.db.rows("SELECT generation_id, sum(amount) AS net FROM credit_histories "
                         "WHERE user_id = %s AND generation_id IS NOT NULL "
                         "AND generation_id <> ALL(%s) GROUP BY generation_id",
                         (user.user_id, jobs))
    assert all(row["net"] == 0 for row in rows), rows  # charged and refused: charged back
    for job_id in jobs[:3]:
        answer = user.status(job_id)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == job_id
    # The jobs being processed finish meanwhile: only their status publication is lost.
    poll(lambda: stack.db.statuses()["completed"] > completed, timeout=10,
         message="a job to complete while Redis is down")
    stack.start_redis()

    # Once it is back, new work is accepted again.
    jobs += [user.submit() for _ in range(2)]
    summary = check_promise(stack)
    assert summary.completed == len(jobs), summary
    assert summary.failed == len(rows), summary


def test_postgres_restart_with_jobs_in_flight(chaos: Chaos) -> None:
    """PostgreSQL goes away with jobs in flight and comes back. Meanwhile every route that needs
    it answers 503, never 500; afterwards every job finishes, paid for exactly once."""
    stack = chaos("postgres-restart", concurrency=4, fake={"latency_ms": 1000})
    user = stack.user(credits=20)
    jobs = [user.submit() for _ in range(8)]
    poll(lambda: stack.db.statuses()["processing"] >= 2, timeout=20, message="jobs processing")

    worker = stack.workers[0]
    seen = len(worker.log_tail(10**7))
    stack.postgres.stop()  # the suite's own server, never the machine's
    try:
        probes: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/api/me", {}),
            ("GET", "/api/headshots/history", {}),
            ("GET", f"/api/headshots/history/{jobs[0]}", {}),
            ("GET", "/api/credits/history", {}),
            ("GET", "/api/headshots/status/987654321", {}),  # not in the cache: needs the DB
            ("POST", "/api/headshots/generate",
             {"json": {"imageUrl": user.image_url, "style": "corporate", "aspectRatio": "1:1"}}),
            ("POST", "/api/uploads", {"files": {"image": SELFIE.read_bytes()}}),
        ]
        for method, path, kwargs in probes:
            assert_error(user.call(method, path, **kwargs), 503)
        originals = stack.media_root / "originals" / str(user.user_id)
        assert len(list(originals.iterdir())) == 1, "a refused upload left its file behind"
        assert stack.server.call("GET", "/readyz").status_code == 503
        # Down until an attempt waiting on GetImg has come back to a database that is gone.
        poll(lambda: " crashed" in worker.log_tail(10**7)[seen:], timeout=15,
             message="an attempt to lose its database")
    finally:
        stack.postgres.start()
        poll(lambda: stack.db.value("SELECT 1") == 1, timeout=60, message="PostgreSQL back")

    jobs.append(user.submit())  # new work is accepted again
    summary = check_promise(stack)
    assert summary.jobs == len(jobs), summary
    assert summary.completed == len(jobs), summary


def test_getimg_chaos_burst(chaos: Chaos) -> None:
    """100 jobs at once against a GetImg that answers 429s, 5xx, timeouts, HTML and JSON
    without images between its successes; two workers. Every job ends true."""
    stack = chaos(
        "getimg-mix", workers=2, concurrency=8, watch_interval=0.5, watch_threads=3,
        fake={"latency_ms": 200, "seed": 20240611, "timeout_seconds": 3.5, "retry_after": 1,
              "mix": {"ok": 5, "429": 1, "500": 1, "503": 1, "timeout": 1, "garbage": 1,
                      "badjson": 1}},
    )
    users = [stack.user(credits=25) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(lambda n: users[n % 4].submit(), range(100)))
    summary = check_promise(stack, timeout=150)
    assert summary.jobs == len(jobs) == 100
    assert summary.completed > 0
    codes = ", ".join(f"{code} {count}" for code, count in summary.error_codes.most_common())
    SUMMARY_LINES.append(f"chaos getimg-mix: failed by error code: {codes or 'none'}")


def test_two_workers_share_the_queue(chaos: Chaos) -> None:
    """Two workers consume one queue and every job's task is published twice: no job is run
    beyond its attempts, charged twice or completed twice."""
    stack = chaos("two-workers", workers=2, concurrency=4,
                  fake={"latency_ms": 300, "seed": 7, "retry_after": 1,
                        "mix": {"ok": 6, "500": 1, "429": 1}})
    user = stack.user(credits=30)
    jobs = []
    for _ in range(30):
        jobs.append(user.submit())
        stack.publish_duplicate(jobs[-1:])
    summary = check_promise(stack)
    assert summary.jobs == 30

    poll(lambda: stack.fake_stats()["in_flight"] == 0, timeout=10, message="GetImg idle")
    stats = stack.fake_stats()
    rows = stack.db.rows("SELECT id, status, attempts, metadata, result_keys, thumbnail_key "
                         "FROM headshot_generations")
    assert stats["generation_calls"] <= sum(row["attempts"] for row in rows), stats
    completed = [row for row in rows if row["status"] == "completed"]
    for row in completed:
        assert row["metadata"]["attempts"] == row["attempts"], row
    request_ids = [row["metadata"]["getimgRequestId"] for row in completed]
    assert len(set(request_ids)) == len(request_ids), "two jobs share one GetImg result"
    ok_ids = {call["id"] for call in stats["recent"] if call["outcome"] == "ok"}
    assert set(request_ids) <= ok_ids

    # On disk: exactly the completed jobs' files, nothing from a duplicate or stale attempt.
    expected = {key for row in completed for key in [*row["result_keys"], row["thumbnail_key"]]}
    on_disk = {str(path.relative_to(stack.media_root)) for kind in ("results", "thumbnails")
               for path in (stack.media_root / kind).rglob("*") if path.is_file()}
    assert on_disk == expected

    # Both workers took jobs, and the duplicate messages found nothing to do.
    for worker in stack.workers:
        assert "headshots.generate" in worker.log_tail(10**7), worker.name
    no_ops = sum(worker.log_tail(10**7).count("nothing to do") for worker in stack.workers)
    assert no_ops >= len(jobs)
