"""A throwaway stack for benchmarks: its own database, Redis and fake GetImg, on free ports.

Set up before the service's settings are first read (the environment is how they are passed).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.database import create_database, drop_database, migrate  # noqa: E402
from devstack.processes import Service, free_port, redis_service, wait_for_redis  # noqa: E402
from fakes.getimg.process import FakeGetImg, start_fake_getimg  # noqa: E402

BENCH_SECRET = "bench-secret-" + uuid.uuid4().hex


@dataclass
class BenchStack:
    run_dir: Path
    redis: Service
    getimg: FakeGetImg
    web_port: int


@contextmanager
def bench_stack(getimg_latency_ms: int = 0) -> Iterator[BenchStack]:
    run_dir = Path(tempfile.mkdtemp(prefix="headshots-bench-"))
    db_name = f"headshots_bench_{os.getpid()}"
    redis_port, web_port = free_port(), free_port()
    database_url = create_database(db_name)
    redis = redis_service(redis_port, run_dir).start()
    getimg = start_fake_getimg(GETIMG_FAKE_LATENCY_MS=str(getimg_latency_ms),
                               GETIMG_FAKE_MAX_CONCURRENCY="1000",
                               GETIMG_FAKE_RATE_LIMIT_RPM="1000000")
    os.environ.update(
        DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        JWT_SECRET=BENCH_SECRET, GETIMG_API_URL=getimg.url, GETIMG_API_KEY="sk_bench",
        MEDIA_ROOT=str(run_dir / "media"), PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        PORT=str(web_port),
        # The limiter still runs (its Redis round trip is part of the cost) but never trips.
        RATE_LIMIT_STATUS_PER_MINUTE="100000000", RATE_LIMIT_WRITES="100000000/minute",
    )
    try:
        migrate(database_url)
        wait_for_redis(redis_port, timeout=10)
        yield BenchStack(run_dir, redis, getimg, web_port)
    finally:
        getimg.stop()
        redis.stop()
        from models.db import get_engine

        get_engine().dispose()
        drop_database(db_name)


def median_and_range(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, *, seconds: int = 5, connections: int = 32, headers: dict[str, str] | None = None
        ) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    output = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(rps, p50, p99, errors)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
