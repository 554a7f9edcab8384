"""Real processes for the tests: Redis, the web server, Celery workers. No mocks of any."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)


def _admin_execute(statement: str, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(ADMIN_DATABASE_URL)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        connection.close()


def create_database(name: str) -> str:
    """A new, empty database on the local server; returns its URL."""
    _admin_execute("CREATE DATABASE {}", name)
    return ADMIN_DATABASE_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    _admin_execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def migrate(database_url: str) -> None:
    subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": database_url}, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05,
               message: str = "condition",
               ignore: tuple[type[BaseException], ...] = ()) -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds.

    Exceptions listed in `ignore` count as "not yet" (a service still starting); any other
    exception, a failed assertion in particular, ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except ignore:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Service:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], *, log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
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


def redis_service(port: int, log_dir: Path) -> Service:
    return Service(
        "redis",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no"],
        log_dir=log_dir,
    )


def worker_service(name: str, log_dir: Path, *, concurrency: int = 4,
                   env: dict[str, str] | None = None) -> Service:
    return Service(
        name,
        [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--pool", "threads",
         "--concurrency", str(concurrency), "--queues", "headshots,maintenance",
         "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "INFO"],
        log_dir=log_dir, env=env,
    )


def web_service(port: int, log_dir: Path) -> Service:
    return Service(
        "web",
        [str(BIN / "gunicorn"), "--config", "config/gunicorn.py", "api:create_app()"],
        log_dir=log_dir, env={"PORT": str(port), "WEB_CONCURRENCY": "2"},
    )
