"""The chaos harness: one whole stack per scenario, faults on demand, and the promise checked.

The promise under test: a headshot you paid for either arrives or your credits come back,
exactly once, whatever breaks.

`ChaosStack` starts, for one scenario only, a fresh database, its own redis-server, the fake
GetImg, the `web` process (gunicorn), one or more `worker` processes and a `beat` process, all
as subprocesses with an environment built here from scratch (nothing is inherited from the
pytest process, whose own settings point at the session stack of tests/conftest.py). The
harness talks to its stack only over HTTP and through its own psycopg2 connection: never
through `models.db` or `get_settings()` of this process.

`check_promise` is the end of every scenario: it waits until no job is in flight, then checks
every job, the ledger, the files and the progress the app saw, and records the summary line
that `tests/chaos/conftest.py` prints at the end of the run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import psycopg2
import psycopg2.extras
import requests

from tests.processes import (
    ADMIN_DATABASE_URL,
    BIN,
    REPO_ROOT,
    Service,
    create_database,
    drop_database,
    free_port,
    wait_until,
)

SELFIE = REPO_ROOT / "assets" / "sample-selfie.jpg"
SUMMARY_LINES: list[str] = []  # printed by pytest_terminal_summary (tests/chaos/conftest.py)

# Everything the service reads times out fast, so a fault is noticed and repaired in seconds.
FAST_KNOBS = {
    "JOB_PROCESSING_TIMEOUT_SECONDS": "6",
    "JOB_QUEUE_TIMEOUT_SECONDS": "8",
    "REAPER_INTERVAL_SECONDS": "1",
    "GETIMG_RETRY_BASE_SECONDS": "0.2",
    "GETIMG_RETRY_MAX_SECONDS": "1",
    "GETIMG_MAX_ATTEMPTS": "4",
    "GETIMG_TIMEOUT_SECONDS": "3",
    "GETIMG_CONNECT_TIMEOUT_SECONDS": "2",
    "GETIMG_EXPECTED_SECONDS": "2",
    "RATE_LIMIT_ENABLED": "false",
}
FINISHED = ("completed", "failed")


def _base_environment() -> dict[str, str]:
    """The few variables a process needs to run at all; the service's own are added on top."""
    env = {name: os.environ[name] for name in ("LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
           if name in os.environ}
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _db_url(name: str) -> str:
    return ADMIN_DATABASE_URL.rsplit("/", 1)[0] + "/" + name


# ---- the stack's database, read directly --------------------------------------------------


class Database:
    """Reads of the stack's own database over a psycopg2 connection of the harness.

    A read that meets a connection error reconnects and tries again until `patience` runs
    out, so a scenario that restarts PostgreSQL can keep reading.
    """

    def __init__(self, url: str, patience: float = 60.0) -> None:
        self.url = url
        self.patience = patience
        self._connection: Any = None
        self._lock = threading.Lock()

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                with self._lock:
                    if self._connection is None or self._connection.closed:
                        self._connection = psycopg2.connect(self.url, connect_timeout=3)
                        self._connection.autocommit = True
                    with self._connection.cursor(
                            cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                        cursor.execute(query, params)
                        return [dict(row) for row in cursor.fetchall()]
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def value(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(query, params)
        return next(iter(rows[0].values())) if rows else None

    def in_flight(self) -> int:
        return int(self.value(
            "SELECT count(*) FROM headshot_generations WHERE status IN ('queued', 'processing')"))

    def statuses(self) -> Counter[str]:
        return Counter({row["status"]: row["n"] for row in self.rows(
            "SELECT status, count(*) AS n FROM headshot_generations GROUP BY status")})

    def credits(self, user_id: int) -> int:
        return int(self.value("SELECT credits FROM users WHERE id = %s", (user_id,)))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg2.Error):
                connection.close()


# ---- the progress the app sees


class _KeepAlive:
    """One kept-alive HTTP connection: far cheaper per request than `requests`, which matters
    when the harness polls a hundred jobs on the same two cores as the stack."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._connection: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, Any] | None:
        """(status, JSON body or None), or None when the server did not answer."""
        for fresh in (False, True):
            if fresh or self._connection is None:
                self.close()
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self._connection.request("GET", path, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                if fresh:  # a new connection failed too: the server did not answer
                    self.close()
                    return None
                continue  # a kept-alive connection the server had closed meanwhile
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, None
        return None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Observation:
    at: float
    code: int  # 0: no answer
    status: str | None = None
    progress: int | None = None
    round: int = 0


@dataclass
class _Tracked:
    headers: dict[str, str]
    round: int = 0
    done: bool = False
    seen: list[Observation] = field(default_factory=list)


class StatusWatcher:
    """Polls `GET /api/headshots/status/{id}` of every tracked job, as the app does, until it
    has seen the job finish; keeps every answer."""

    def __init__(self, base: str, *, interval: float = 0.3, threads: int = 2) -> None:
        self.base = base
        self.interval = interval
        self.jobs: dict[int, _Tracked] = {}
        self.codes: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(index, threads), daemon=True,
                                          name=f"status-watcher-{index}")
                         for index in range(threads)]
        for thread in self._threads:
            thread.start()

    def track(self, generation_id: int, headers: dict[str, str], round_: int = 0) -> None:
        with self._lock:
            tracked = self.jobs.setdefault(generation_id, _Tracked(headers))
            tracked.round, tracked.done = round_, False

    def all_done(self) -> bool:
        with self._lock:
            return all(tracked.done for tracked in self.jobs.values())

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, index: int, of: int) -> None:
        client = _KeepAlive(self.base)
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                mine = [(job_id, tracked) for job_id, tracked in self.jobs.items()
                        if job_id % of == index and not tracked.done]
            for job_id, tracked in mine:
                if self._stop.is_set():
                    break
                self._poll(client, job_id, tracked)
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - started)))
        client.close()

    def _poll(self, client: _KeepAlive, job_id: int, tracked: _Tracked) -> None:
        observation = Observation(at=time.monotonic(), code=0, round=tracked.round)
        answer = client.get(f"/api/headshots/status/{job_id}", tracked.headers)
        if answer is not None:
            observation.code, body = answer
            if observation.code == 200:
                observation.status, observation.progress = body["status"], body["progress"]
        with self._lock:
            self.codes[observation.code] += 1
            tracked.seen.append(observation)
            if observation.status in FINISHED:
                tracked.done = True

    def progress_problems(self) -> list[str]:
        """Jobs whose progress, as the app saw it, went down within a round."""
        problems = []
        with self._lock:
            for job_id, tracked in self.jobs.items():
                by_round: dict[int, list[tuple[str | None, int]]] = defaultdict(list)
                for seen in tracked.seen:
                    if seen.code == 200 and seen.progress is not None:
                        by_round[seen.round].append((seen.status, seen.progress))
                for round_, sequence in by_round.items():
                    values = [progress for _, progress in sequence]
                    if any(later < earlier for earlier, later in zip(values, values[1:],
                                                                     strict=False)):
                        problems.append(f"job {job_id} round {round_}: progress went down: "
                                        f"{sequence}")
        return problems


# ---- the stack --------------------------------------------------------------------------------


@dataclass
class Summary:
    name: str
    jobs: int
    completed: int
    failed: int
    refunded: int
    lost: int
    seconds: float
    error_codes: Counter[str]

    @property
    def line(self) -> str:
        return (f"chaos {self.name}: jobs={self.jobs} completed={self.completed} "
                f"failed={self.failed} refunded={self.refunded} lost={self.lost} "
                f"({self.seconds:.1f} s)")


class ChaosStack:
    """A whole service of its own for one scenario. Use `start()`, then `close()` (always)."""

    def __init__(self, name: str, run_dir: Path, *, workers: int = 1, concurrency: int = 8,
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
        self.database_url = _db_url(self.db_name)
        self.ports = {"redis": free_port(), "getimg": free_port(), "web": free_port()}
        self.base = f"http://127.0.0.1:{self.ports['web']}"
        self.getimg_url = f"http://127.0.0.1:{self.ports['getimg']}"
        self.redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        self.jwt_secret = "chaos-" + uuid.uuid4().hex
        self.env = {
            **_base_environment(),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "JWT_SECRET": self.jwt_secret,
            "GETIMG_API_URL": self.getimg_url,
            "GETIMG_API_KEY": "sk_chaos",
            "MEDIA_ROOT": str(self.media_root),
            "PUBLIC_BASE_URL": self.base,
            # gunicorn keeps a control socket under $HOME: one of this stack's own.
            "HOME": str(run_dir),
            **FAST_KNOBS,
            **(env or {}),
        }
        self.db = Database(self.database_url)
        self.redis: Service | None = None
        self.getimg: Service | None = None
        self.web: Service | None = None
        self.beat: Service | None = None
        self.workers: list[Service] = []
        self._services: list[Service] = []
        self._database_created = False
        self._local = threading.local()
        self.watcher: StatusWatcher | None = None
        self.http_codes: Counter[int] = Counter()  # every answer to the harness's own calls
        self._watch_interval, self._watch_threads = watch_interval, watch_threads

    # -- processes ------------------------------------------------------------------------

    def _service(self, name: str, argv: list[str], **extra_env: str) -> Service:
        service = Service(name, argv, log_dir=self.log_dir)
        service.env = {**self.env, **extra_env}  # exactly this environment, nothing inherited
        self._services.append(service)
        return service

    def start(self) -> ChaosStack:
        self.redis = self._service("redis", self._redis_argv()).start()
        self.getimg = self._service(
            "getimg", [sys.executable, "-m", "fakes.getimg", "--host", "127.0.0.1",
                       "--port", str(self.ports["getimg"])],
            GETIMG_FAKE_CONFIG=json.dumps(self.fake_config)).start()
        create_database(self.db_name)
        self._database_created = True
        # The Procfile's `release` step, before any process of the stack starts.
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=REPO_ROOT, env=self.env,
                       check=True, capture_output=True, timeout=60)
        self._wait_for_redis()
        wait_until(self.fake_stats, timeout=15, message="fake GetImg",
                   ignore=(requests.RequestException,))
        self.web = self._service(
            "web", [str(BIN / "gunicorn"), "--config", "config/gunicorn.py", "api:create_app()"],
            PORT=str(self.ports["web"]), WEB_CONCURRENCY="2").start()
        for _ in range(self.worker_count):
            self.add_worker(wait=False)
        self.beat = self._service(
            "beat", [str(BIN / "celery"), "-A", "workers.celery_app", "beat", "--schedule",
                     str(self.run_dir / "celerybeat-schedule"), "--loglevel", "INFO"]).start()
        wait_until(self._web_ready, timeout=30, message="web /readyz",
                   ignore=(requests.RequestException,))
        for worker in self.workers:
            self._wait_worker_ready(worker)
        beat = self.beat
        wait_until(lambda: self._alive(beat) and "beat: Starting" in beat.log_tail(),
                   timeout=30, message="beat to start")
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
            wait_until(_postgres_answers, timeout=60, message="PostgreSQL to answer")
            drop_database(self.db_name)

    def _redis_argv(self) -> list[str]:
        return ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no"]

    def _wait_for_redis(self) -> None:
        import redis

        client = redis.Redis(port=self.ports["redis"], socket_connect_timeout=1)
        try:
            wait_until(client.ping, timeout=15, message="redis", ignore=(redis.RedisError,))
        finally:
            client.close()

    def _alive(self, service: Service | None) -> bool:
        if service is None or not service.running:
            name = service.name if service else "service"
            tail = service.log_tail() if service else ""
            raise RuntimeError(f"{name} exited:\n{tail}")
        return True

    def _web_ready(self) -> bool:
        self._alive(self.web)
        # A long timeout: the socket accepts at once, the app answers once its workers booted.
        return requests.get(self.base + "/readyz", timeout=30).status_code == 200

    def _wait_worker_ready(self, worker: Service) -> None:
        wait_until(lambda: self._alive(worker) and " ready." in worker.log_tail(50000),
                   timeout=30, message=f"{worker.name} to be ready")

    def add_worker(self, *, wait: bool = True) -> Service:
        name = f"worker{len(self.workers) + 1}"
        worker = self._service(
            name, [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--pool", "threads",
                   "--concurrency", str(self.concurrency), "--queues", "headshots,maintenance",
                   "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
                   "--without-heartbeat", "--loglevel", "INFO"]).start()
        self.workers.append(worker)
        if wait:
            self._wait_worker_ready(worker)
        return worker

    def kill(self, service: Service) -> None:
        """SIGKILL the service's whole process group, as the OOM killer or a lost VM would."""
        assert service.process is not None
        os.killpg(os.getpgid(service.process.pid), signal.SIGKILL)
        service.process.wait(timeout=10)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()  # SIGTERM; no persistence, so every queued message is gone

    def start_redis(self) -> None:
        self.redis = self._service("redis", self._redis_argv()).start()
        self._wait_for_redis()

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

    # -- HTTP -----------------------------------------------------------------------------

    def token(self, user_id: int, *, role: str | None = None) -> str:
        claims: dict[str, Any] = {"sub": str(user_id), "exp": int(time.time()) + 3600}
        if role:
            claims["role"] = role
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def call(self, method: str, path: str, *, user_id: int | None = None, role: str | None = None,
             **kwargs: Any) -> requests.Response:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        headers = dict(kwargs.pop("headers", {}))
        if user_id is not None:
            headers["Authorization"] = f"Bearer {self.token(user_id, role=role)}"
        response = http.request(method, self.base + path, headers=headers,
                                timeout=kwargs.pop("timeout", 30), **kwargs)
        self.http_codes[response.status_code] += 1
        return response

    def user(self, credits: int = 0) -> ChaosUser:
        return ChaosUser(self, credits)

    def log_dirs(self) -> str:
        return f"logs in {self.log_dir}"


def _postgres_answers() -> bool:
    try:
        psycopg2.connect(ADMIN_DATABASE_URL, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


class ChaosUser:
    """One signed-in user of the stack, with credits and one uploaded selfie."""

    def __init__(self, stack: ChaosStack, credits: int) -> None:
        self.stack = stack
        self.user_id = int(uuid.uuid4().int % 10**15) + 1000
        self.headers = {"Authorization": f"Bearer {stack.token(self.user_id)}"}
        if credits:
            response = stack.call("POST", f"/api/admin/users/{self.user_id}/credits",
                                  user_id=1, role="admin",
                                  json={"amount": credits, "reason": "chaos"})
            assert response.status_code == 201, response.text
        self.image_url = self.upload()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.stack.call(method, path, user_id=self.user_id, **kwargs)

    def upload(self) -> str:
        with SELFIE.open("rb") as image:
            response = self.call("POST", "/api/uploads", files={"image": image})
        assert response.status_code == 201, response.text
        return str(response.json()["imageUrl"])

    def generate(self, style: str = "corporate") -> requests.Response:
        return self.call("POST", "/api/headshots/generate",
                         json={"imageUrl": self.image_url, "style": style, "aspectRatio": "1:1"})

    def submit(self, style: str = "corporate") -> int:
        """Generate a headshot (202 expected) and have the watcher follow its status."""
        response = self.generate(style)
        assert response.status_code == 202, response.text
        generation_id = int(response.json()["id"])
        assert self.stack.watcher is not None
        self.stack.watcher.track(generation_id, self.headers)
        return generation_id

    def status(self, generation_id: int) -> requests.Response:
        return self.call("GET", f"/api/headshots/status/{generation_id}")


# ---- the end of every scenario -----------------------------------------------------------------


def assert_error_body(response: requests.Response, status: int) -> dict[str, Any]:
    """The answer has `status` and the contract's §3 error body, nothing else."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers.get("Content-Type", "").startswith("application/json"), \
        response.headers
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body


def wait_settled(stack: ChaosStack, timeout: float) -> None:
    """Until no job is queued or processing (PostgreSQL is the truth)."""
    try:
        wait_until(lambda: stack.db.in_flight() == 0, timeout=timeout, interval=0.25,
                   message="every job to finish")
    except TimeoutError:
        stuck = stack.db.rows(
            "SELECT id, status, attempts, progress, deadline_at, now() AS now, metadata "
            "FROM headshot_generations WHERE status IN ('queued', 'processing') ORDER BY id")
        raise AssertionError(f"chaos {stack.name}: jobs still in flight after {timeout} s "
                             f"({stack.log_dirs()}):\n" + "\n".join(map(str, stuck))) from None


def check_promise(stack: ChaosStack, *, timeout: float = 90) -> Summary:
    """Wait for every job to finish, then check the promise for each one.

    Every job is completed or failed; a failed job has exactly one refund in its round and a
    completed one none; every round was charged exactly once; every balance is the sum of its
    ledger and never negative; nobody's headshot was counted twice; every completed job's files
    are on disk; no answer was a 500; the progress the app saw never went down.
    """
    wait_settled(stack, timeout)
    watcher = stack.watcher
    assert watcher is not None
    # Let the watcher see each job's end (its last poll may be a moment behind).
    with contextlib.suppress(TimeoutError):
        wait_until(watcher.all_done, timeout=10, interval=0.1, message="the watcher")
    watcher.stop()

    jobs = stack.db.rows("SELECT id, user_id, status, retry_count, attempts, result_keys, "
                         "thumbnail_key, error_code, metadata FROM headshot_generations")
    ledger = stack.db.rows("SELECT user_id, generation_id, generation_round, type, amount "
                           "FROM credit_histories")
    users = stack.db.rows("SELECT id, credits, total_headshots_generated FROM users")

    entries: Counter[tuple[int, int, str]] = Counter()
    for entry in ledger:
        if entry["generation_id"] is not None:
            entries[(entry["generation_id"], entry["generation_round"], entry["type"])] += 1

    problems: list[str] = []
    bad_jobs: set[int] = set()

    def problem(job_id: int | None, text: str) -> None:
        problems.append(text)
        if job_id is not None:
            bad_jobs.add(job_id)

    completed_by_user: Counter[int] = Counter()
    for job in jobs:
        job_id, status, last_round = job["id"], job["status"], job["retry_count"]
        if status not in FINISHED:
            problem(job_id, f"job {job_id} ended {status}")
        for round_ in range(last_round + 1):
            charges = entries[(job_id, round_, "headshot")]
            if charges != 1:
                problem(job_id, f"job {job_id} round {round_} charged {charges} times")
            refunds = entries[(job_id, round_, "refund")]
            wanted = 1 if round_ < last_round or status == "failed" else 0
            if refunds != wanted:
                problem(job_id, f"job {job_id} ({status}) round {round_}: {refunds} refunds, "
                                f"expected {wanted}")
        if status == "completed":
            completed_by_user[job["user_id"]] += 1
            keys = [*(job["result_keys"] or []), *filter(None, [job["thumbnail_key"]])]
            if not job["result_keys"] or not job["thumbnail_key"]:
                problem(job_id, f"job {job_id} completed without results: {keys}")
            missing = [key for key in keys if not (stack.media_root / key).is_file()]
            if missing:
                problem(job_id, f"job {job_id} completed but its files are missing: {missing}")
    known_rounds = {(job["id"], round_) for job in jobs for round_ in range(job["retry_count"] + 1)}
    for (job_id, round_, kind), count in entries.items():
        if (job_id, round_) not in known_rounds:
            problem(job_id, f"ledger has {count} {kind} entries for job {job_id} round {round_}, "
                            "a round the job never had")

    ledger_sums: Counter[int] = Counter()
    for entry in ledger:
        ledger_sums[entry["user_id"]] += entry["amount"]
    for user in users:
        if user["credits"] != ledger_sums[user["id"]] or user["credits"] < 0:
            problem(None, f"user {user['id']}: credits {user['credits']}, ledger sum "
                          f"{ledger_sums[user['id']]}")
        if user["total_headshots_generated"] != completed_by_user[user["id"]]:
            problem(None, f"user {user['id']}: total_headshots_generated "
                          f"{user['total_headshots_generated']} but {completed_by_user[user['id']]}"
                          " completed jobs (a double completion?)")

    problems += watcher.progress_problems()
    for source, codes in (("status polls", watcher.codes), ("harness calls", stack.http_codes)):
        if codes[500]:
            problems.append(f"{codes[500]} answers of 500 to the {source}: {dict(codes)}")
    assert stack.web is not None
    if "unhandled error" in stack.web.log_tail(10**7):
        problems.append("the web log has an unhandled error (a 500)")

    statuses = Counter(job["status"] for job in jobs)
    summary = Summary(
        name=stack.name, jobs=len(jobs), completed=statuses["completed"],
        failed=statuses["failed"],
        refunded=sum(1 for entry in ledger if entry["type"] == "refund"),
        lost=len(bad_jobs), seconds=time.monotonic() - stack.started_at,
        error_codes=Counter(job["error_code"] for job in jobs if job["status"] == "failed"),
    )
    SUMMARY_LINES.append(summary.line + ("" if not problems else " FAILED"))
    assert not problems, (f"chaos {stack.name}: the promise was broken ({stack.log_dirs()}):\n"
                          + "\n".join(problems[:40]))
    return summary


def processing_in_getimg(stack: ChaosStack) -> list[int]:
    """Jobs whose attempt is waiting on GetImg right now (stored progress at the 'waiting'
    milestone or its estimate, below 'received')."""
    return [row["id"] for row in stack.db.rows(
        "SELECT id FROM headshot_generations WHERE status = 'processing' "
        "AND progress >= 15 AND progress < 85 ORDER BY id")]


def poll(predicate: Callable[[], object], *, timeout: float, message: str) -> object:
    return wait_until(predicate, timeout=timeout, interval=0.1, message=message)
