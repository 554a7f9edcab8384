"""The status poll and /healthz, each beside its bare baseline in the same run.

Jobs in every state (completed, processing, queued, failed), 8 users, each poll with its
owner's real token; 64 connections. Interleaved, per run: /ping, /healthz, /redis, the poll.
Then the PostgreSQL transactions per poll of a cached (completed) job, counted black-box from
pg_stat_database with the worker stopped.
"""

from __future__ import annotations

import time

import requests

from bench.accounts import BenchUser, make_users
from bench.harness import BenchStack, bench_stack, cpu_seconds
from bench.load import Call, WrkResult, wrk
from bench.table import Row
from devstack.processes import wait_for_worker
from devstack.waiting import wait_until

USERS = 8
CONNECTIONS = 64
SECONDS = 5


def _generate(stack: BenchStack, user: BenchUser) -> int:
    answer = requests.post(f"{stack.web_url}/api/headshots/generate", headers=user.headers,
                           json={"imageUrl": user.image_url, "style": "corporate"}, timeout=30)
    answer.raise_for_status()
    return int(answer.json()["id"])


def _status(stack: BenchStack, user: BenchUser, job_id: int) -> str:
    answer = requests.get(f"{stack.web_url}/api/headshots/status/{job_id}",
                          headers=user.headers, timeout=30)
    return str(answer.json()["status"])


def _jobs_in_every_state(stack: BenchStack, users: list[BenchUser]
                         ) -> dict[str, list[tuple[BenchUser, int]]]:
    jobs: dict[str, list[tuple[BenchUser, int]]] = {}
    worker = stack.worker().start()
    try:
        wait_for_worker(worker, timeout=60)
        jobs["completed"] = [(user, _generate(stack, user)) for user in users]
        wait_until(lambda: all(_status(stack, u, j) == "completed" for u, j in jobs["completed"]),
                   timeout=120, interval=0.2, message="completed jobs")
        stack.getimg.configure(latency_ms=600_000)  # these stay `processing` from here on
        jobs["processing"] = [(user, _generate(stack, user)) for user in users]
        wait_until(lambda: all(_status(stack, u, j) == "processing"
                               for u, j in jobs["processing"]),
                   timeout=60, interval=0.2, message="processing jobs")
    finally:
        worker.stop(timeout=5)
    jobs["queued"] = [(user, _generate(stack, user)) for user in users]
    jobs["failed"] = [(user, _generate(stack, user)) for user in users]
    for user, job_id in jobs["failed"]:
        requests.post(f"{stack.web_url}/api/headshots/{job_id}/cancel", headers=user.headers,
                      timeout=30).raise_for_status()
    return jobs


def _transactions(database_url: str) -> int:
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                           "WHERE datname = current_database()")
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


def _no_autovacuum(database_url: str) -> None:
    """Autovacuum's transactions count in pg_stat_database too: none in the bench's database."""
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for (table,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    finally:
        connection.close()


def _transactions_per_cached_poll(stack: BenchStack, calls: list[Call]) -> tuple[float, int, int]:
    """PostgreSQL transactions (any statement, a pool pre-ping included, opens one) while the
    web answers `calls`, per call. A backend flushes its counters when it exits, so the web is
    restarted before and stopped after; the counting connections' own are subtracted."""
    _no_autovacuum(stack.database_url)
    stack.restart_web()
    wrk(stack.web_url, calls, seconds=1, connections=CONNECTIONS)  # every key cached again
    # An idle backend flushes its counters within a second, or 10 s when the shared
    # statistics are busy (PGSTAT_IDLE_INTERVAL): the boot's /readyz must be in `before`.
    time.sleep(11)
    before = _transactions(stack.database_url)
    result = wrk(stack.web_url, calls, seconds=SECONDS, connections=CONNECTIONS)
    stack.web.stop()
    time.sleep(1)
    after = _transactions(stack.database_url)
    counted = after - before - 1  # the `before` read's own transaction
    stack.restart_web()
    return counted / result.requests, counted, result.requests


def run(runs: int) -> list[Row]:
    with bench_stack("status") as stack:
        users = make_users(stack.web_url, USERS)
        jobs = _jobs_in_every_state(stack, users)
        polls = [Call(f"/api/headshots/status/{job_id}", user.token)
                 for state in jobs.values() for user, job_id in state]
        cached = [Call(f"/api/headshots/status/{job_id}", user.token)
                  for user, job_id in jobs["completed"]]
        targets = {
            "ping": (stack.bare_url, [Call("/ping")]),
            "healthz": (stack.web_url, [Call("/healthz")]),
            "redis": (stack.bare_url, [Call("/redis")]),
            "poll": (stack.web_url, polls),
        }
        for url, calls in targets.values():  # warm-up: connections, imports, cache
            wrk(url, calls, seconds=1, connections=CONNECTIONS)
        results: dict[str, list[WrkResult]] = {name: [] for name in targets}
        cpu_ms: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(runs):
            for name, (url, calls) in targets.items():
                service = stack.bare if url == stack.bare_url else stack.web
                cpu_start = cpu_seconds(service)
                result = wrk(url, calls, seconds=SECONDS, connections=CONNECTIONS)
                cpu_ms[name].append((cpu_seconds(service) - cpu_start) * 1000 / result.requests)
                results[name].append(result)
        per_poll, counted, polled = _transactions_per_cached_poll(stack, cached)

    def rps(name: str) -> list[float]:
        return [r.requests_per_second for r in results[name]]

    def p99(name: str) -> list[float]:
        return [r.p99_ms for r in results[name]]

    errors = sum(r.errors for r in results["poll"])
    poll_rps, ratio_redis = rps("poll"), _ratio(rps("poll"), rps("redis"))
    return [
        Row("status poll (4 states, 64 conn)", f"req/s ({errors} errors)", poll_rps, "",
            "bare /redis", rps("redis"), "≥ 0.8×", ratio_redis >= 0.8 and errors == 0),
        Row("status poll", "p99", p99("poll"), "ms", "bare /redis", p99("redis"),
            "≤ 2× bare p99", _ratio(p99("poll"), p99("redis")) <= 2),
        Row("status poll", "server CPU per request", cpu_ms["poll"], "ms", "bare /redis",
            cpu_ms["redis"]),
        Row("status poll", "req/s vs /ping (stretch)", poll_rps, "", "bare /ping", rps("ping"),
            "≥ 0.8×", _ratio(poll_rps, rps("ping")) >= 0.8),
        # A stray transaction or two shows up in the window however long it is (not per poll:
        # thousands of polls would make thousands): the verdict is on the count per poll.
        Row("status poll, cached job", "PG transactions per poll", [per_poll], "",
            f"{counted} in {polled} polls", (), "0 (< 1 per 100 polls)", counted * 100 < polled),
        Row("/healthz (64 conn)", "req/s", rps("healthz"), "", "bare /ping", rps("ping")),
    ]


def _ratio(values: list[float], baseline: list[float]) -> float:
    import statistics

    return statistics.median(values) / statistics.median(baseline)
