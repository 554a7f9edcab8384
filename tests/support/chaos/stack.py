"""A whole service of its own for one chaos scenario, and its users."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from devstack.database import (
    create_database,
    database_url,
    drop_database,
    migrate,
    postgres_answers,
)
from devstack.postgres_cluster import PostgresCluster
from devstack.processes import (
    BIN,
    Service,
    beat_service,
    free_port,
    redis_service,
    wait_for_beat,
    wait_for_redis,
    wait_for_web,
    wait_for_worker,
    web_service,
    worker_service,
)
from devstack.waiting import wait_until
from fakes.getimg.process import fake_getimg_command
from tests.support.chaos.database import StackDatabase
from tests.support.chaos.watcher import StatusWatcher
from tests.support.live import LiveServer, LiveUser

# Everything the service reads times out fast, so a fault is noticed and repaired in seconds.
FAST_KNOBS = {
    "JOB_PROCESSING_TIMEOUT_SECONDS": "6",
    "JOB_QUEUE_TIMEOUT_SECONDS": "8",
    "JOB_LEASE_SECONDS": "4",
    "JOB_LEASE_RENEW_SECONDS": "1",
    "REAPER_INTERVAL_SECONDS": "1",
    "GETIMG_SLOT_WAIT_SECONDS": "5",
    "WORKER_SHUTDOWN_GRACE_SECONDS": "3",
    "GETIMG_RETRY_BASE_SECONDS": "0.2",
    "GETIMG_RETRY_MAX_SECONDS": "1",
    "GETIMG_MAX_ATTEMPTS": "4",
    "GETIMG_TIMEOUT_SECONDS": "3",
    "GETIMG_CONNECT_TIMEOUT_SECONDS": "2",
    "GETIMG_EXPECTED_SECONDS": "2",
    "RATE_LIMIT_ENABLED": "false",
}


def _base_environment() -> dict[str, str]:
    """The few variables a process needs to run at all; the service's own are added on top."""
    env = {name: os.environ[name] for name in ("LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
           if name in os.environ}
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class ChaosStack:
    """A whole service of its own for one scenario. Use `start()`, then `close()` (always)."""

    def __init__(self, name: str, run_dir: Path, *, postgres: PostgresCluster,
                 workers: int = 1, concurrency: int = 8,
                 fake: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                 watch_interval: float = 0.3, watch_threads: int = 2) -> None:
        self.name = name
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.media_root = run_dir / "media"
        self.worker_count = workers
        self.concurrency = concurrency
        self.fake_config = fake or {}
        self.started_at = time.monotonic()
        self.db_name = f"headshots_chaos_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.postgres = postgres  # the suite's own server: a scenario may restart it
        self.database_url = database_url(self.db_name, admin_url=postgres.admin_url)
        self.ports = {"redis": free_port(), "getimg": free_port(), "web": free_port()}
        self.base = f"http://127.0.0.1:{self.ports['web']}"
        self.getimg_url = f"http://127.0.0.1:{self.ports['getimg']}"
        self.redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        jwt_secret = "chaos-" + uuid.uuid4().hex
        self.env = {
            **_base_environment(),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "JWT_SECRET": jwt_secret,
            "GETIMG_API_URL": self.getimg_url,
            "GETIMG_API_KEY": "sk_chaos",
            "MEDIA_ROOT": str(self.media_root),
            "PUBLIC_BASE_URL": self.base,
            # gunicorn keeps a control socket under $HOME: one of this stack's own.
            "HOME": str(run_dir),
            **FAST_KNOBS,
            **(env or {}),
        }
        # The harness's own calls; every answer is counted (check_promise: no 500).
        self.server = LiveServer(self.base, jwt_secret=jwt_secret)
        self.db = StackDatabase(self.database_url)
        self.redis: Service | None = None
        self.getimg: Service | None = None
        self.web: Service | None = None
        self.beat: Service | None = None
        self.workers: list[Service] = []
        self.retired_webs: list[Service] = []  # stopped by restart_web; their logs still count
        self._services: list[Service] = []
        self._database_created = False
        self.watcher: StatusWatcher | None = None
        self._watch_interval, self._watch_threads = watch_interval, watch_threads

    # -- processes ------------------------------------------------------------------------

    def _started(self, service: Service) -> Service:
        self._services.append(service)
        return service.start()

    def start(self) -> ChaosStack:
        self.redis = self._started(redis_service(self.ports["redis"], self.log_dir,
                                                 base_env=self.env))
        self.getimg = self._started(Service(
            "getimg", fake_getimg_command(self.ports["getimg"]), log_dir=self.log_dir,
            base_env=self.env, env={"GETIMG_FAKE_CONFIG": json.dumps(self.fake_config)}))
        create_database(self.db_name, admin_url=self.postgres.admin_url)
        self._database_created = True
        migrate(self.database_url, base_env=self.env)  # the Procfile's `release`, first
        wait_for_redis(self.ports["redis"])
        wait_until(self.fake_stats, timeout=15, message="fake GetImg",
                   ignore=(requests.RequestException,))
        self.web = self._started(web_service(self.ports["web"], self.log_dir, reuse_port=True,
                                             base_env=self.env))
        for _ in range(self.worker_count):
            self.add_worker(wait=False)
        self.beat = self._started(beat_service(self.run_dir / "celerybeat-schedule",
                                               self.log_dir, base_env=self.env))
        wait_for_web(self.web, self.base)
        for worker in self.workers:
            wait_for_worker(worker)
        wait_for_beat(self.beat)
        self.watcher = StatusWatcher(self.base, interval=self._watch_interval,
                                     threads=self._watch_threads)
        self.started_at = time.monotonic()
        return self

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        running = [service for service in self._services if service.running]
        for service in running:  # all at once: a worker's warm shutdown takes a moment
            with contextlib.suppress(ProcessLookupError):
                service.signal(signal.SIGTERM)
        for service in running:
            service.stop(timeout=15)
        self.db.close()
        if self._database_created:
            wait_until(lambda: postgres_answers(self.postgres.admin_url), timeout=60,
                       message="PostgreSQL to answer")
            drop_database(self.db_name, admin_url=self.postgres.admin_url)

    def add_worker(self, *, wait: bool = True) -> Service:
        worker = self._started(worker_service(f"worker{len(self._services)}", self.log_dir,
                                              concurrency=self.concurrency, base_env=self.env))
        self.workers.append(worker)
        if wait:
            wait_for_worker(worker)
        return worker

    def restart_web(self) -> None:
        """A rolling restart of web: the new server listens on the same port (SO_REUSEPORT)
        and is ready before the old one gets SIGTERM and finishes its requests in flight."""
        old = self.web
        assert old is not None
        new = self._started(web_service(self.ports["web"], self.log_dir,
                                        name=f"web{len(self._services)}", reuse_port=True,
                                        base_env=self.env))
        wait_for_web(new, self.base)
        wait_until(lambda: new.log_tail(10**6).count("Booting worker") >= 2, timeout=30,
                   message=f"{new.name}'s workers")
        old.stop(timeout=30)  # graceful: gunicorn's graceful_timeout bounds it
        self.retired_webs.append(old)
        self.web = new

    def restart_worker(self, worker: Service) -> Service:
        """SIGTERM (warm shutdown, bounded by WORKER_SHUTDOWN_GRACE_SECONDS), then a new
        worker in its place."""
        worker.stop(timeout=30)
        self.workers.remove(worker)
        return self.add_worker()

    def kill(self, service: Service) -> None:
        """SIGKILL the service's whole process group, as the OOM killer or a lost VM would."""
        assert service.process is not None
        os.killpg(os.getpgid(service.process.pid), signal.SIGKILL)
        service.process.wait(timeout=10)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()  # SIGTERM; no persistence, so every queued message is gone

    def start_redis(self) -> None:
        self.redis = self._started(redis_service(self.ports["redis"], self.log_dir,
                                                 base_env=self.env))
        wait_for_redis(self.ports["redis"])

    def expire_unacked(self) -> int:
        """Make the broker's unacknowledged messages look older than the visibility timeout,
        so the next worker to start delivers them again (what would happen 15 minutes later).
        Returns how many there were."""
        import redis

        client = redis.Redis(port=self.ports["redis"])
        try:
            tags: list[bytes] = list(client.zrange("unacked_index", 0, -1))  # type: ignore[arg-type]
            if tags:
                client.zadd("unacked_index", {tag: time.time() - 3600 for tag in tags})
            return len(tags)
        finally:
            client.close()

    def publish_duplicate(self, generation_ids: list[int]) -> None:
        """Publish `headshots.generate` again for these jobs, as a buggy publisher (or a
        redelivery) would: a second message for a job must change nothing."""
        from celery import Celery

        app = Celery("chaos-duplicates", broker=self.redis_url)
        try:
            for generation_id in generation_ids:
                app.send_task("headshots.generate", args=[generation_id], queue="headshots")
        finally:
            app.close()

    # -- the fake GetImg ------------------------------------------------------------------

    def fake_stats(self) -> dict[str, Any]:
        response = requests.get(self.getimg_url + "/_fake/stats", timeout=5)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def configure_fake(self, **knobs: Any) -> None:
        requests.post(self.getimg_url + "/_fake/config", json=knobs,
                      timeout=5).raise_for_status()

    # -- users ----------------------------------------------------------------------------

    def user(self, credits: int = 0) -> ChaosUser:
        return ChaosUser(self, credits)

    def log_dirs(self) -> str:
        return f"logs in {self.log_dir}"


class ChaosUser(LiveUser):
    """One signed-in user of the stack, with credits and one uploaded selfie."""

    def __init__(self, stack: ChaosStack, credits: int) -> None:
        super().__init__(stack.server, credits)
        self.stack = stack
        self.image_url = self.upload()

    def submit(self, style: str = "corporate") -> int:
        """Generate a headshot (202 expected) and have the watcher follow its status."""
        response = self.generate(self.image_url, style)
        assert response.status_code == 202, response.text
        generation_id = int(response.json()["id"])
        assert self.stack.watcher is not None
        self.stack.watcher.track(generation_id, self.headers)
        return generation_id
