"""A throwaway stack per benchmark: its own database, Redis and fake GetImg on free ports, the
Procfile's `web` and `worker` (devstack/processes.py), and the bare baseline app beside them.

Set up before the service's settings are first read (the environment is how they are passed).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.database import create_database, drop_database, migrate  # noqa: E402
from devstack.processes import (  # noqa: E402
    BIN,
    Service,
    free_port,
    redis_service,
    wait_for_redis,
    wait_for_web,
    web_service,
    worker_service,
)
from devstack.waiting import wait_until  # noqa: E402
from fakes.getimg.process import FakeGetImg, start_fake_getimg  # noqa: E402

BENCH_SECRET = "bench-secret-" + uuid.uuid4().hex
WORKER_CONCURRENCY = 16  # the Procfile's default (${WORKER_CONCURRENCY:-16})
HIGH_LIMIT = 100_000_000  # rate limits stay on (their Redis work is measured) but never trip


@dataclass
class BenchStack:
    run_dir: Path
    database_url: str
    redis: Service
    getimg: FakeGetImg
    web: Service
    bare: Service
    web_url: str
    bare_url: str

    def worker(self, name: str = "worker") -> Service:
        """The Procfile's worker (threads pool, 16, both queues), not started yet."""
        return worker_service(name, self.run_dir, concurrency=WORKER_CONCURRENCY)

    def restart_web(self, *gunicorn_args: str) -> None:
        """Stopped and started again; `gunicorn_args` go after the Procfile's (and win over
        config/gunicorn.py), e.g. another worker class."""
        self.web.stop()
        self.web = web_service(int(self.web_url.rsplit(":", 1)[1]), self.run_dir)
        self.web.argv += gunicorn_args
        self.web.start()
        wait_for_web(self.web, self.web_url, timeout=60)


def bare_service(port: int, run_dir: Path) -> Service:
    """bench/bare_app.py under config/gunicorn.py, the web's own settings (worker class,
    workers, threads): the ceiling of the same server with no application code."""
    return Service(
        "bare",
        [str(BIN / "gunicorn"), "--config", "config/gunicorn.py", "bench.bare_app:app"],
        log_dir=run_dir, env={"PORT": str(port), "WEB_CONCURRENCY": "2"},
    )


@contextmanager
def bench_stack(name: str, *, getimg_latency_ms: int = 0) -> Iterator[BenchStack]:
    """Database, Redis, fake GetImg, `web` and the bare app, started; stopped at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"headshots-bench-{name}-"))
    db_name = f"headshots_bench_{name}_{os.getpid()}"
    redis_port, web_port, bare_port = free_port(), free_port(), free_port()
    with ExitStack() as cleanup:
        database_url = create_database(db_name)
        cleanup.callback(drop_database, db_name)
        redis = redis_service(redis_port, run_dir).start()
        cleanup.callback(redis.stop)
        getimg = start_fake_getimg(GETIMG_FAKE_LATENCY_MS=str(getimg_latency_ms),
                                   GETIMG_FAKE_MAX_CONCURRENCY="100000",
                                   GETIMG_FAKE_RATE_LIMIT_RPM="100000000",
                                   # $100 by default: ~3,300 generations, fewer than
                                   # `bench/run memory` makes (then 402 quota_exceeded)
                                   GETIMG_FAKE_BALANCE="1000000")
        cleanup.callback(getimg.stop)
        os.environ.update(
            DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            JWT_SECRET=BENCH_SECRET, GETIMG_API_URL=getimg.url, GETIMG_API_KEY="sk_bench",
            MEDIA_ROOT=str(run_dir / "media"), PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
            WORKER_CONCURRENCY=str(WORKER_CONCURRENCY),
            GETIMG_MAX_CONCURRENCY=str(WORKER_CONCURRENCY),
            RATE_LIMIT_STATUS_PER_MINUTE=str(HIGH_LIMIT),
            RATE_LIMIT_WRITES=f"{HIGH_LIMIT}/minute", RATE_LIMIT_ADMIN=f"{HIGH_LIMIT}/minute",
            RATE_LIMIT_EXPORTS=f"{HIGH_LIMIT}/minute",
            BARE_TABLE="bench_bare_writes",
        )
        _use_environment_settings()
        migrate(database_url)
        _create_bare_table(database_url)
        wait_for_redis(redis_port, timeout=10)
        web = web_service(web_port, run_dir).start()
        bare = bare_service(bare_port, run_dir).start()
        stack = BenchStack(run_dir, database_url, redis, getimg, web, bare,
                           f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{bare_port}")
        cleanup.callback(lambda: stack.web.stop())
        cleanup.callback(bare.stop)
        cleanup.callback(_dispose_engine)
        wait_for_web(web, stack.web_url, timeout=60)
        _wait_for_bare(bare, stack.bare_url)
        yield stack


def _wait_for_bare(bare: Service, base_url: str) -> None:
    import requests

    wait_until(lambda: bare.check_running() and requests.get(f"{base_url}/ping", timeout=30).ok,
               timeout=60, message="the bare app", ignore=(requests.RequestException,))


def _use_environment_settings() -> None:
    """This process's own domain calls (queueing jobs directly) use this stack too."""
    from config import Settings, use_settings
    from workers.celery_app import celery_init

    celery_init(use_settings(Settings()))


def _create_bare_table(database_url: str) -> None:
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_bare_writes (id bigserial PRIMARY KEY, "
                           "payload jsonb NOT NULL, created_at timestamptz DEFAULT now())")
    finally:
        connection.close()


def _dispose_engine() -> None:
    from models.db import get_engine

    get_engine().dispose()


# ---- what a process tree costs ----------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _group_pids(service: Service) -> list[int]:
    assert service.process is not None
    group = service.process.pid
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # field 5, pgrp (after pid, comm, state, ppid)
            pids.append(int(entry))
    return pids


def cpu_seconds(service: Service) -> float:
    """User + system CPU of every live process in the service's process group."""
    total = 0
    for pid in _group_pids(service):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time this machine has spent on anything but idling, over all its cores, since boot
    (/proc/stat: every process of the stack, the benchmark's own clients, the kernel; not the
    time the hypervisor gave another guest, steal)."""
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, first_line.split()[1:8])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def rss_mib(service: Service) -> float:
    """Resident memory of the service's process group, MiB."""
    total_kib = 0
    for pid in _group_pids(service):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


def bare_worker_service(run_dir: Path) -> Service:
    """bench/bare_tasks.py's worker with the flags of the drain's worker (`worker_service`):
    Celery's own cost per task, the drain's baseline. At WARNING, where ours is at INFO: its
    two lines per task would be Celery's cost, but ours writes its own instead."""
    return worker_service("bare-worker", run_dir, concurrency=WORKER_CONCURRENCY,
                          queues="bare", app="bench.bare_tasks", log_level="WARNING")
