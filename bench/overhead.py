"""What the service adds to a job: `POST /generate` at a steady 50 jobs/s (open loop) with the
fake answering after 100 ms, the Procfile's worker running; per job, completed_at − created_at
(both written by the service) minus the fake's latency. Then the export of a completed job:
`GET /api/headshots/{id}/export` as a 1024 px JPEG with a watermark, req/s and web CPU each.

With each rate, the machine's CPU per job (every process: web, worker, PostgreSQL, Redis, the
fake, the senders), which says how many jobs a second two cores can take at all; and, at the
sustainable rate, where the overhead goes, from the timestamps the service writes: the wait
from creation to the worker's claim, the attempt's time beyond GetImg's latency (the
`processingTime` of the job's metadata: the call, the download, the thumbnail, the files),
and the completing transaction.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import requests

from bench.accounts import BenchUser, make_users
from bench.drain import POLL_FAULTS, finished_count
from bench.harness import BenchStack, bench_stack, cpu_seconds, machine_busy_seconds
from bench.load import Call, WrkResult, wrk
from bench.table import Row
from devstack.processes import wait_for_worker
from devstack.waiting import wait_until

RATE = 50  # jobs a second
# Also at a rate this box sustains: 50 jobs/s takes more CPU than its 2 cores have (web +
# worker + PostgreSQL + Redis + the fake), so that figure is mostly the queue's wait.
SUSTAINED_RATE = 10
SECONDS = 4
LATENCY_MS = 100
SENDERS = 8
EXPORT_CONNECTIONS = 8
EXPORT_SECONDS = 5


def _submit_steadily(stack: BenchStack, users: list[BenchUser], rate: int
                     ) -> list[tuple[BenchUser, int]]:
    """rate × SECONDS POSTs, each sent at its scheduled moment by one of SENDERS threads."""
    total = rate * SECONDS
    start = time.monotonic() + 0.2
    jobs: list[tuple[BenchUser, int]] = []
    lock = threading.Lock()

    def send(sender: int) -> None:
        with requests.Session() as http:
            for index in range(sender, total, SENDERS):
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                user = users[index % len(users)]
                answer = http.post(f"{stack.web_url}/api/headshots/generate",
                                   headers=user.headers, timeout=30,
                                   json={"imageUrl": user.image_url, "style": "corporate"})
                answer.raise_for_status()
                with lock:
                    jobs.append((user, int(answer.json()["id"])))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs


def _wait_finished(stack: BenchStack, ids: list[int]) -> None:
    wait_until(lambda: sum(finished_count(stack.database_url, ids)) == len(ids),
               timeout=300, interval=0.2, message="the jobs", ignore=POLL_FAULTS)


@dataclass(frozen=True)
class JobTimes:
    """One job's overhead and its parts, ms (from the service's own timestamps)."""

    overhead: float  # completed_at − created_at − the fake's latency
    until_claimed: float  # created_at → started_at: commit, publish, delivery, the claim
    attempt_beyond_getimg: float  # processingTime − the fake's latency
    completing: float  # started_at + processingTime → completed_at


def _job_times(database_url: str, ids: list[int]) -> list[JobTimes]:
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT extract(epoch FROM completed_at - created_at)::float * 1000, "
                "extract(epoch FROM started_at - created_at)::float * 1000, "
                "(metadata->>'processingTime')::float * 1000, "
                "extract(epoch FROM completed_at - started_at)::float * 1000 "
                "FROM headshot_generations WHERE id = ANY(%s)", (ids,))
            return [JobTimes(total - LATENCY_MS, claimed, processing - LATENCY_MS,
                             started_to_completed - processing)
                    for total, claimed, processing, started_to_completed in cursor.fetchall()]
    finally:
        connection.close()


def _busy_cores(*, seconds: float) -> float:
    """How many cores the machine keeps busy, on average over `seconds` from now."""
    busy, start = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy_seconds() - busy) / (time.monotonic() - start)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(runs: int) -> list[Row]:
    rates = (RATE, SUSTAINED_RATE)
    with bench_stack("overhead", getimg_latency_ms=LATENCY_MS) as stack:
        users = make_users(stack.web_url, 8)
        worker = stack.worker().start()
        try:
            wait_for_worker(worker, timeout=60)
            idle = _busy_cores(seconds=2.0)  # the stack waiting: its timers, polls, beats
            p50s: dict[int, list[float]] = {rate: [] for rate in rates}
            p99s: dict[int, list[float]] = {rate: [] for rate in rates}
            machine_ms: dict[int, list[float]] = {rate: [] for rate in rates}
            parts: list[JobTimes] = []  # at the sustainable rate, every run's jobs
            for _ in range(runs):
                for rate in rates:
                    busy, start = machine_busy_seconds(), time.monotonic()
                    jobs = _submit_steadily(stack, users, rate)
                    ids = [job_id for _, job_id in jobs]
                    _wait_finished(stack, ids)
                    spent = (machine_busy_seconds() - busy
                             - idle * (time.monotonic() - start))
                    machine_ms[rate].append(spent * 1000 / len(ids))
                    times = _job_times(stack.database_url, ids)
                    overheads = [each.overhead for each in times]
                    p50s[rate].append(statistics.median(overheads))
                    p99s[rate].append(_percentile(overheads, 0.99))
                    if rate == SUSTAINED_RATE:
                        parts.extend(times)
            user, job_id = jobs[0]
        finally:
            worker.stop()
        export = [Call(f"/api/headshots/{job_id}/export?format=jpeg&size=1024"
                       "&watermark=headshots.example", user.token)]
        wrk(stack.web_url, export, seconds=1, connections=EXPORT_CONNECTIONS)
        exports: list[WrkResult] = []
        cpu_ms: list[float] = []
        for _ in range(runs):
            cpu_start = cpu_seconds(stack.web)
            result = wrk(stack.web_url, export, seconds=EXPORT_SECONDS,
                         connections=EXPORT_CONNECTIONS)
            cpu_ms.append((cpu_seconds(stack.web) - cpu_start) * 1000 / result.requests)
            exports.append(result)
    cores_needed = [ms * RATE / 1000 for ms in machine_ms[RATE]]
    export_errors = sum(r.errors for r in exports)
    return [
        Row(f"overhead: POST → completed − {LATENCY_MS} ms, {RATE} jobs/s", "p50",
            p50s[RATE], "ms", "", (), "≤ 20 ms", statistics.median(p50s[RATE]) <= 20),
        Row("overhead", "p99", p99s[RATE], "ms", "", (), "≤ 100 ms",
            statistics.median(p99s[RATE]) <= 100),
        Row(f"overhead at {SUSTAINED_RATE} jobs/s (sustainable here)", "p50",
            p50s[SUSTAINED_RATE], "ms", "", (), "reported"),
        Row(f"overhead at {SUSTAINED_RATE} jobs/s", "p99", p99s[SUSTAINED_RATE], "ms",
            "", (), "reported"),
        Row(f"overhead at {SUSTAINED_RATE} jobs/s, p50 of each part", "created → claimed",
            [statistics.median(each.until_claimed for each in parts)], "ms", "", (),
            "reported"),
        Row(f"overhead at {SUSTAINED_RATE} jobs/s, p50 of each part",
            f"the attempt beyond GetImg's {LATENCY_MS} ms",
            [statistics.median(each.attempt_beyond_getimg for each in parts)], "ms", "", (),
            "reported"),
        Row(f"overhead at {SUSTAINED_RATE} jobs/s, p50 of each part", "completing",
            [statistics.median(each.completing for each in parts)], "ms", "", (), "reported"),
        Row(f"overhead at {RATE} jobs/s", "machine CPU per job (every process, idle's off)",
            machine_ms[RATE], "ms", f"at {SUSTAINED_RATE} jobs/s",
            machine_ms[SUSTAINED_RATE], "reported"),
        Row(f"overhead at {RATE} jobs/s", "cores that CPU per job needs at this rate",
            cores_needed, "", "the machine's 2 vCPU", [2.0], "reported"),
        Row("export 1024 px JPEG + watermark (8 conn)", "req/s",
            [r.requests_per_second for r in exports], "", f"{export_errors} errors", (),
            "reported"),
        Row("export", "web CPU per export", cpu_ms, "ms", "", (), "reported"),
    ]
