"""Scripted faults against the real stack; every scenario ends with `check_promise`.

A headshot you paid for either arrives or your credits come back, exactly once, whatever breaks.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.support.assets import SELFIE
from tests.support.chaos.promise import (
    SUMMARY_LINES,
    check_promise,
    poll,
    processing_in_getimg,
)
from tests.support.chaos.stack import ChaosStack
from tests.support.chaos.watcher import is_error_body
from tests.support.errors import assert_error

Chaos = Callable[..., ChaosStack]


def test_sigkill_worker_during_getimg_call(chaos: Chaos) -> None:
    """The worker dies (SIGKILL, whole process group) while its jobs wait on GetImg. Its
    leases run out and the reaper takes its jobs over long before the processing timeout; a
    new worker finishes them; the dead worker's messages stay unacknowledged (they come back
    only after the broker's visibility timeout, and then find nothing to do)."""
    # A processing timeout far away: only the lease can bring the jobs back in time.
    stack = chaos("sigkill-worker", fake={"latency_ms": 2000},
                  env={"JOB_PROCESSING_TIMEOUT_SECONDS": "300"})
    user = stack.user(credits=6)
    jobs = [user.submit() for _ in range(6)]
    poll(lambda: len(processing_in_getimg(stack)) >= 4 and stack.fake_stats()["in_flight"] >= 4,
         timeout=20, message="jobs to be waiting on GetImg")
    victim = stack.workers[0]
    stack.kill(victim)
    killed_at = time.monotonic()
    held = {row["id"]: row["attempts"] for row in stack.db.rows(
        "SELECT id, attempts FROM headshot_generations WHERE status = 'processing'")}
    assert len(held) >= 4, held
    stack.add_worker()

    def taken_over() -> bool:
        rows = stack.db.rows("SELECT id, attempts, status FROM headshot_generations "
                             "WHERE id = ANY(%s)", (list(held),))
        return all(row["attempts"] > held[row["id"]] or row["status"] == "queued"
                   for row in rows)

    poll(taken_over, timeout=90, message="the dead worker's jobs to be taken over")
    takeover = time.monotonic() - killed_at
    SUMMARY_LINES.append(f"chaos sigkill-worker: {len(held)} jobs of the killed worker taken "
                         f"over {takeover:.1f} s after the kill (lease "
                         f"{stack.env['JOB_LEASE_SECONDS']} s, reaper every "
                         f"{stack.env['REAPER_INTERVAL_SECONDS']} s)")
    assert takeover < 60, takeover

    summary = check_promise(stack)
    assert summary.completed == len(jobs), summary
    attempts = {row["id"]: row["attempts"] for row in stack.db.rows(
        "SELECT id, attempts FROM headshot_generations")}
    assert all(attempts[job_id] >= 2 for job_id in held), attempts
    # Every GetImg call the dead worker started, and every one after, was a counted attempt.
    poll(lambda: stack.fake_stats()["in_flight"] == 0, timeout=10, message="GetImg idle")
    assert stack.fake_stats()["generation_calls"] <= sum(attempts.values())


def test_redis_restart_with_jobs_in_flight(chaos: Chaos) -> None:
    """Redis (no persistence) stops with jobs queued and processing, and starts again empty.
    While it is down, generate answers 503 and costs nothing, status still answers from
    PostgreSQL; once it is back the reaper sees the queue was lost and republishes every
    queued job at once (not a queue timeout later), and all of them finish."""
    # A queue timeout far away: only the lost-queue check can republish the jobs in time.
    stack = chaos("redis-restart", concurrency=4, fake={"latency_ms": 1000},
                  env={"JOB_QUEUE_TIMEOUT_SECONDS": "300"})
    user = stack.user(credits=20)
    # More jobs than the workers take at once, so some are still queued when Redis stops,
    # however slow the machine.
    jobs = [user.submit() for _ in range(14)]
    poll(lambda: stack.db.statuses()["processing"] >= 2 and stack.db.statuses()["queued"] >= 4,
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
    # Redis comes back empty: every job queued now has lost its message. Read before it
    # returns, since the lost-queue check may republish them and a worker take them at once.
    lost = [row["id"] for row in stack.db.rows(
        "SELECT id FROM headshot_generations WHERE status = 'queued'")]
    assert lost, "no queued job lost its message"
    stack.start_redis()
    returned_at = time.monotonic()
    poll(lambda: not stack.db.rows("SELECT id FROM headshot_generations WHERE status = "
                                   "'queued' AND id = ANY(%s) AND attempts = 0", (lost,)),
         timeout=90, message="the lost queued jobs to be republished and taken")
    republished = time.monotonic() - returned_at
    SUMMARY_LINES.append(f"chaos redis-restart: {len(lost)} queued jobs whose messages Redis "
                         f"lost republished and taken {republished:.1f} s after its return "
                         f"(reaper every {stack.env['REAPER_INTERVAL_SECONDS']} s)")
    assert republished < 60, republished

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
    rows = stack.db.rows("SELECT id, status, attempts, attempts_before_round, metadata, "
                         "result_keys, thumbnail_key FROM headshot_generations")
    assert stats["generation_calls"] <= sum(row["attempts"] for row in rows), stats
    completed = [row for row in rows if row["status"] == "completed"]
    for row in completed:
        # The attempts that counted: a 429's was given back (models/job/attempts.give_attempt_back).
        assert row["metadata"]["attempts"] == row["attempts"] - row["attempts_before_round"], row
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


def test_three_workers_share_one_getimg_account(chaos: Chaos) -> None:
    """Three worker processes, twelve threads, against a GetImg account that takes 4 calls at
    once (more answer 429): GETIMG_MAX_CONCURRENCY=4, shared through Redis, keeps every
    worker within it, and no job fails or even retries for it."""
    stack = chaos("three-workers", workers=3, concurrency=4,
                  env={"GETIMG_MAX_CONCURRENCY": "4"},
                  fake={"latency_ms": 600, "max_concurrency": 4})
    users = [stack.user(credits=8) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        jobs = list(pool.map(lambda n: users[n % 3].submit(), range(24)))
    summary = check_promise(stack)
    assert summary.completed == len(jobs) == 24, summary
    stats = stack.fake_stats()
    SUMMARY_LINES.append(f"chaos three-workers: peak GetImg calls in flight "
                         f"{stats['peak_in_flight']} (limit 4), 429s for concurrency "
                         f"{stats['over_concurrency']}, calls {stats['generation_calls']}")
    assert stats["over_concurrency"] == 0, stats
    assert 2 <= stats["peak_in_flight"] <= 4, stats
    attempts = stack.db.rows("SELECT id, attempts FROM headshot_generations WHERE attempts <> 1")
    assert not attempts, f"jobs that needed more than one attempt: {attempts}"
    # Every worker took part.
    for worker in stack.workers:
        assert "headshots.generate" in worker.log_tail(10**7), worker.name


def test_rolling_restart_of_web_and_workers(chaos: Chaos) -> None:
    """Web, then each worker, restarted one after the other (SIGTERM) while jobs run and the
    app polls. Web finishes its requests in flight; a worker gets a short grace, then hands
    its unfinished jobs back. Every job ends true, paid once; no answer is a 5xx other than
    a 503 with the error body."""
    # GetImg calls longer than the grace, so a stopping worker has jobs to hand back; a
    # GetImg timeout and a processing timeout well above them, so nothing fails for those.
    stack = chaos("rolling-restart", workers=2, concurrency=4,
                  env={"WORKER_SHUTDOWN_GRACE_SECONDS": "1", "GETIMG_TIMEOUT_SECONDS": "15",
                       "JOB_PROCESSING_TIMEOUT_SECONDS": "60"},
                  fake={"latency_ms": 2500})
    user = stack.user(credits=40)
    jobs = [user.submit() for _ in range(8)]
    answers: Counter[int] = Counter()
    bad: list[tuple[int, str]] = []
    stop = threading.Event()

    def keep_submitting() -> None:
        while not stop.wait(0.7):
            try:
                response = user.generate(user.image_url)
            except requests.RequestException:
                answers[0] += 1  # no answer (a connection cut in the switch): not a 5xx
                continue
            answers[response.status_code] += 1
            if response.status_code == 202:
                job_id = int(response.json()["id"])
                jobs.append(job_id)
                assert stack.watcher is not None
                stack.watcher.track(job_id, user.headers)
            elif response.status_code >= 500 and not (response.status_code == 503
                                                       and is_error_body(response.json())):
                bad.append((response.status_code, response.text[:200]))

    submitter = threading.Thread(target=keep_submitting, name="submitter", daemon=True)
    submitter.start()
    try:
        poll(lambda: len(processing_in_getimg(stack)) >= 2, timeout=20,
             message="jobs waiting on GetImg")
        stack.restart_web()
        for worker in list(stack.workers):
            poll(lambda: len(processing_in_getimg(stack)) >= 1, timeout=20,
                 message="a job waiting on GetImg")
            stack.restart_worker(worker)
    finally:
        stop.set()
        submitter.join(timeout=30)

    summary = check_promise(stack, timeout=120)
    assert summary.jobs == len(jobs), summary
    assert summary.completed == summary.jobs, summary  # a restart is no reason to fail a job
    assert not bad, bad
    handed_back = stack.db.value(
        "SELECT count(*) FROM headshot_generations WHERE metadata->'lastError'->>'code' = "
        "'worker_shutdown'")
    SUMMARY_LINES.append(f"chaos rolling-restart: {len(jobs)} jobs, {handed_back} handed back "
                         f"by a stopping worker; submits {dict(answers)}; polls "
                         f"{dict(stack.watcher.codes) if stack.watcher else {}}")
