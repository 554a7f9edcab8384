"""Real processes of the service, each a subprocess in its own process group logging to a file.

    redis = redis_service(port, log_dir).start()
    wait_for_redis(port)
    web = web_service(port, log_dir).start()
    wait_for_web(web, f"http://127.0.0.1:{port}")
    ...
    web.stop()

A process inherits this process's environment plus what its factory adds, unless `base_env`
gives the whole environment to start from (the chaos stacks inherit nothing).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtual environment's scripts: celery, gunicorn, ...
WORKER_QUEUES = "headshots,maintenance"  # as the Procfile's `worker` line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A subprocess in its own process group, logging to `<log_dir>/<name>.log`."""

    def __init__(self, name: str, argv: list[str], *, log_dir: Path,
                 env: Mapping[str, str] | None = None,
                 base_env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = {**(os.environ if base_env is None else base_env), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            assert self.process is not None
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 10) -> None:
        if self.process is None:
            return
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def check_running(self) -> bool:
        """True while it runs; raises, with the end of its log, once it has exited."""
        if not self.running:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        return True


# ---- the command lines ------------------------------------------------------------------------


def redis_service(port: int, log_dir: Path, *,
                  base_env: Mapping[str, str] | None = None) -> Service:
    """A redis-server without persistence: a restart loses every queued message."""
    return Service(
        "redis",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no"],
        log_dir=log_dir, base_env=base_env,
    )


def web_service(port: int, log_dir: Path, *, name: str = "web", workers: int = 2,
                reuse_port: bool = False, env: Mapping[str, str] | None = None,
                base_env: Mapping[str, str] | None = None) -> Service:
    """The Procfile's `web` process: gunicorn with `workers` processes on `port` (`env`:
    settings of its own, on top of the inherited ones).

    With `reuse_port` (SO_REUSEPORT) a second server can listen on the same port before the
    first one stops: a rolling restart on one machine, as a load balancer does across several.
    """
    return Service(
        name,
        [str(BIN / "gunicorn"), "--config", "config/gunicorn.py",
         *(["--reuse-port"] if reuse_port else []), "api:create_app()"],
        log_dir=log_dir,
        env={"PORT": str(port), "WEB_CONCURRENCY": str(workers), **(env or {})},
        base_env=base_env,
    )


def worker_service(name: str, log_dir: Path, *, pool: str = "threads", concurrency: int = 4,
                   queues: str = WORKER_QUEUES, env: Mapping[str, str] | None = None,
                   base_env: Mapping[str, str] | None = None, app: str = "workers.celery_app",
                   log_level: str = "INFO") -> Service:
    """A Celery worker like the Procfile's, with its own pool, concurrency and host name (of
    another Celery `app`: the benchmarks' bare one)."""
    return Service(
        name,
        [str(BIN / "celery"), "-A", app, "worker", "--pool", pool,
         "--concurrency", str(concurrency), "--queues", queues,
         "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", log_level],
        log_dir=log_dir, env=env, base_env=base_env,
    )


def beat_service(schedule: Path, log_dir: Path, *,
                 base_env: Mapping[str, str] | None = None) -> Service:
    """The Procfile's `beat`, keeping its schedule in `schedule`."""
    return Service(
        "beat",
        [str(BIN / "celery"), "-A", "workers.celery_app", "beat", "--schedule", str(schedule),
         "--loglevel", "INFO"],
        log_dir=log_dir, base_env=base_env,
    )


# ---- waiting until each one is ready ----------------------------------------------------------


def wait_for_redis(port: int, *, timeout: float = 15) -> None:
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=1)
    try:
        wait_until(client.ping, timeout=timeout, message=f"redis on port {port}",
                   ignore=(redis.RedisError,))
    finally:
        client.close()


def wait_for_web(service: Service, base_url: str, *, timeout: float = 30) -> None:
    """Until `/readyz` answers 200 (PostgreSQL and Redis reachable from the app)."""
    import requests

    def ready() -> bool:
        service.check_running()
        # A long timeout: the socket accepts at once, the app answers once its workers booted.
        return requests.get(base_url + "/readyz", timeout=timeout).status_code == 200

    wait_until(ready, timeout=timeout, message=f"{service.name} /readyz",
               ignore=(requests.RequestException,))


def wait_for_worker(service: Service, *, timeout: float = 30) -> None:
    """Until the worker logs that it is ready to take tasks."""
    wait_until(lambda: service.check_running() and " ready." in service.log_tail(50000),
               timeout=timeout, message=f"{service.name} to be ready")


def wait_for_beat(service: Service, *, timeout: float = 30) -> None:
    wait_until(lambda: service.check_running() and "beat: Starting" in service.log_tail(),
               timeout=timeout, message=f"{service.name} to start")
