"""Open status streams against everything else: one client's status polls and its generates,
one request at a time, with no stream open and then with 300 open (60 users x 5, each on a
queued job of its own, so none ends), interleaved per run. The `web` process is the Procfile's
(gevent, config/web_worker.py): a stream must cost a waiting greenlet, not a thread, so polls
and generates keep their latency however many streams are open.

No worker runs: every job stays queued, and so every stream stays open.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from redis import Redis

from bench.accounts import BenchUser, make_users
from bench.harness import BenchStack, bench_stack
from bench.table import Row
from devstack.waiting import wait_until
from services.stream_slots import ALL_KEY

STREAMS = 300
STREAMS_PER_USER = 5  # STREAM_MAX_PER_USER's default
POLLS = 400  # per measurement, one after another
GENERATES = 60


def _generate(stack: BenchStack, user: BenchUser, http: requests.Session) -> int:
    answer = http.post(f"{stack.web_url}/api/headshots/generate", headers=user.headers,
                       json={"imageUrl": user.image_url, "style": "corporate"}, timeout=30)
    answer.raise_for_status()
    return int(answer.json()["id"])


def _timed(count: int, call: Callable[[], object]) -> list[float]:
    """Milliseconds of each of `count` calls made one after another."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _open_stream(web_url: str, user: BenchUser, job_id: int) -> socket.socket:
    """A stream whose client reads its head and then only waits, as an app in the background
    would (its events are a few hundred bytes: the socket's buffers hold them)."""
    address = urlsplit(web_url)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    sock.sendall(f"GET /api/headshots/status/{job_id}/stream HTTP/1.1\r\nHost: bench\r\n"
                 f"Authorization: Bearer {user.token}\r\n\r\n".encode())
    head = sock.recv(4096)
    if not head.startswith(b"HTTP/1.1 200"):
        sock.close()
        raise RuntimeError(f"stream refused: {head[:300]!r}")
    return sock


@contextmanager
def _streams_open(stack: BenchStack, streamers: list[tuple[BenchUser, int]]
                  ) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    try:
        for user, job_id in streamers:
            sockets += [_open_stream(stack.web_url, user, job_id)
                        for _ in range(STREAMS_PER_USER)]
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _open_slots() -> int:
    with Redis.from_url(os.environ["REDIS_URL"]) as redis:
        return int(redis.zcard(ALL_KEY))


def run(runs: int) -> list[Row]:
    with bench_stack("streams") as stack:
        poller, *others = make_users(stack.web_url, 1 + STREAMS // STREAMS_PER_USER)
        http = requests.Session()
        streamers = [(user, _generate(stack, user, http)) for user in others]
        polled = _generate(stack, poller, http)
        status_url = f"{stack.web_url}/api/headshots/status/{polled}"

        def poll() -> None:
            http.get(status_url, headers=poller.headers, timeout=30).raise_for_status()

        def generate() -> None:
            _generate(stack, poller, http)

        _timed(50, poll)  # warm-up: connections, imports, the status cache
        _timed(10, generate)
        polls: dict[int, list[list[float]]] = {0: [], STREAMS: []}
        generates: dict[int, list[list[float]]] = {0: [], STREAMS: []}
        for _ in range(runs):  # interleaved: 0 streams, then 300, per run
            # A closed stream's slot frees when the server notices (within about a second).
            wait_until(lambda: _open_slots() == 0, timeout=30, interval=0.2,
                       message="the previous run's streams to close")
            polls[0].append(_timed(POLLS, poll))
            generates[0].append(_timed(GENERATES, generate))
            with _streams_open(stack, streamers) as sockets:
                assert len(sockets) == STREAMS and _open_slots() == STREAMS, _open_slots()
                polls[STREAMS].append(_timed(POLLS, poll))
                generates[STREAMS].append(_timed(GENERATES, generate))

    def cut(runs_of: list[list[float]], percentile: int) -> list[float]:
        return [statistics.quantiles(latencies, n=100)[percentile - 1] for latencies in runs_of]

    with_streams, without = f"{STREAMS} streams open", "0 streams open"
    poll_p99, poll_p99_alone = cut(polls[STREAMS], 99), cut(polls[0], 99)
    return [
        Row(f"status poll, one client, {with_streams}", f"p50 ({POLLS} polls)",
            cut(polls[STREAMS], 50), "ms", without, cut(polls[0], 50)),
        Row(f"status poll, one client, {with_streams}", "p99", poll_p99, "ms", without,
            poll_p99_alone, "≤ 2× (0 streams)",
            statistics.median(poll_p99) <= 2 * statistics.median(poll_p99_alone)),
        Row(f"POST /generate, one client, {with_streams}", f"p50 ({GENERATES} jobs)",
            cut(generates[STREAMS], 50), "ms", without, cut(generates[0], 50)),
        Row(f"POST /generate, one client, {with_streams}", "p99", cut(generates[STREAMS], 99),
            "ms", without, cut(generates[0], 99)),
    ]
