"""Open status streams against everything else: one client's status polls and its generates,
one request at a time, with no stream open and then with 300 open (60 users x 5, each on a
queued job of its own, so none ends), interleaved per run; and the web's CPU while the streams
only wait. The `web` process is the Procfile's (gevent, config/web_worker.py): a stream must
cost a waiting greenlet, not a thread, so polls and generates keep their latency.

`streams-gthread` (bench/run's extra) measures the same with the worker class `web` had
before, gthread 2 x 8: there 16 streams hold every thread and the rest of the requests wait in
line, so a request is given up after CALL_TIMEOUT and the measurement stops there.

No worker runs: every job stays queued, and so every stream stays open.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from redis import Redis

from bench.accounts import BenchUser, make_users
from bench.harness import BenchStack, bench_stack, cpu_seconds
from bench.table import Row
from devstack.waiting import wait_until
from services.stream_slots import ALL_KEY

STREAMS = 300
STREAMS_PER_USER = 5  # STREAM_MAX_PER_USER's default
POLLS = 400  # per measurement, one after another
GENERATES = 60
IDLE_SECONDS = 3  # the web's CPU measured while nothing but the open streams happens
CALL_TIMEOUT = 5.0  # seconds; a request that waits longer is waiting for a thread
GTHREAD = ("--worker-class", "gthread", "--threads", "8")  # the web's worker before gevent


@dataclass
class Timings:
    """Each measurement's latencies (ms), and whether it stopped at a request that timed out
    (counted at CALL_TIMEOUT)."""

    latencies: list[list[float]]
    timed_out: list[int]

    def cut(self, percentile: int) -> list[float]:
        return [statistics.quantiles(run, n=100)[percentile - 1] if len(run) > 1 else run[0]
                for run in self.latencies]


def _generate(web_url: str, user: BenchUser, http: requests.Session) -> int:
    answer = http.post(f"{web_url}/api/headshots/generate", headers=user.headers,
                       json={"imageUrl": user.image_url, "style": "corporate"},
                       timeout=CALL_TIMEOUT)
    answer.raise_for_status()
    return int(answer.json()["id"])


def _time_calls(timings: Timings, count: int, call: Callable[[], object]) -> None:
    """`count` calls one after another, or up to the first that times out."""
    latencies, timed_out = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            call()
        except requests.Timeout:
            latencies.append(CALL_TIMEOUT * 1000)
            timed_out = 1
            break
        latencies.append((time.perf_counter() - started) * 1000)
    timings.latencies.append(latencies)
    timings.timed_out.append(timed_out)


def _open_slots() -> int:
    with Redis.from_url(os.environ["REDIS_URL"]) as redis:
        return int(redis.zcard(ALL_KEY))


@contextmanager
def _streams_open(web_url: str, streamers: list[tuple[BenchUser, int]]) -> Iterator[int]:
    """Every streamer's streams requested; yields how many the server started (a stream holds a
    slot from its start). Their clients only wait, as an app in the background would: the few
    hundred bytes of events a minute fit the sockets' buffers."""
    address = urlsplit(web_url)
    sockets: list[socket.socket] = []
    try:
        for user, job_id in streamers:
            for _ in range(STREAMS_PER_USER):
                sock = socket.create_connection((address.hostname, address.port), timeout=30)
                sockets.append(sock)
                sock.sendall(f"GET /api/headshots/status/{job_id}/stream HTTP/1.1\r\n"
                             f"Host: bench\r\nAuthorization: Bearer {user.token}\r\n\r\n"
                             .encode())
        yield _answered(len(sockets))
    finally:
        for sock in sockets:
            sock.close()


def _answered(requested: int) -> int:
    """How many streams have started: all of them, or as many as have when CALL_TIMEOUT
    passes with none starting (on a loaded machine 300 take longer than that to start)."""
    opened, last_change = 0, time.monotonic()
    while opened < requested and time.monotonic() - last_change < CALL_TIMEOUT:
        time.sleep(0.1)
        now_open = _open_slots()
        if now_open != opened:
            opened, last_change = now_open, time.monotonic()
    return opened


def _web_cpu_per_second(stack: BenchStack) -> float:
    """The web's CPU (ms) per second of wall time while no request arrives."""
    start = cpu_seconds(stack.web)
    time.sleep(IDLE_SECONDS)
    return (cpu_seconds(stack.web) - start) * 1000 / IDLE_SECONDS


def run(runs: int) -> list[Row]:
    return _measure(runs, "streams", label="", gunicorn_args=())


def run_gthread(runs: int) -> list[Row]:
    return _measure(runs, "streams_gthread", label="gthread 2×8: ", gunicorn_args=GTHREAD)


def _measure(runs: int, name: str, *, label: str, gunicorn_args: Sequence[str]) -> list[Row]:
    with bench_stack(name) as stack:
        if gunicorn_args:
            stack.restart_web(*gunicorn_args)
        poller, *others = make_users(stack.web_url, 1 + STREAMS // STREAMS_PER_USER)
        http = requests.Session()
        streamers = [(user, _generate(stack.web_url, user, http)) for user in others]
        status_url = f"{stack.web_url}/api/headshots/status/" \
                     f"{_generate(stack.web_url, poller, http)}"

        def poll() -> None:
            http.get(status_url, headers=poller.headers, timeout=CALL_TIMEOUT
                     ).raise_for_status()

        def generate() -> None:
            _generate(stack.web_url, poller, http)

        for _ in range(50):  # warm-up: connections, imports, the status cache
            poll()
        polls = {0: Timings([], []), STREAMS: Timings([], [])}
        generates = {0: Timings([], []), STREAMS: Timings([], [])}
        idle_cpu: dict[int, list[float]] = {0: [], STREAMS: []}
        answered: list[float] = []
        for _ in range(runs):  # interleaved: 0 streams, then 300, per run
            # A closed stream's slot frees once the server notices (within about a second).
            wait_until(lambda: _open_slots() == 0, timeout=60, interval=0.2,
                       message="the previous run's streams to close")
            idle_cpu[0].append(_web_cpu_per_second(stack))
            _time_calls(polls[0], POLLS, poll)
            _time_calls(generates[0], GENERATES, generate)
            with _streams_open(stack.web_url, streamers) as opened:
                answered.append(opened)
                idle_cpu[STREAMS].append(_web_cpu_per_second(stack))
                _time_calls(polls[STREAMS], POLLS, poll)
                _time_calls(generates[STREAMS], GENERATES, generate)

    streaming, alone = f"{label}status poll, one client, {STREAMS} streams open", "0 streams open"
    creating = f"{label}POST /generate, one client, {STREAMS} streams open"
    timed_out = sum(polls[STREAMS].timed_out) + sum(generates[STREAMS].timed_out)
    return [
        Row(f"{label}{STREAMS} status streams", "started",
            answered, "", "", (), f"{STREAMS}", min(answered) == STREAMS),
        Row(streaming, f"p50 (of {POLLS})", polls[STREAMS].cut(50), "ms", alone,
            polls[0].cut(50)),
        Row(streaming, "p99", polls[STREAMS].cut(99), "ms", alone, polls[0].cut(99),
            "≤ 2× (0 streams)",
            statistics.median(polls[STREAMS].cut(99)) <= 2 * statistics.median(polls[0].cut(99))),
        Row(creating, f"p50 (of {GENERATES})", generates[STREAMS].cut(50), "ms", alone,
            generates[0].cut(50)),
        Row(creating, "p99", generates[STREAMS].cut(99), "ms", alone, generates[0].cut(99)),
        Row(f"{label}polls and generates, {STREAMS} streams open",
            f"runs stopped by a request > {CALL_TIMEOUT:.0f} s", [float(timed_out)], "",
            "", (), "0", timed_out == 0),
        Row(f"{label}web, {STREAMS} streams open, no request", "CPU per second", idle_cpu[STREAMS],
            "ms", alone, idle_cpu[0]),
    ]
