"""What the app sees of a chaos stack's jobs: their status, polled as the app polls it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.live import FINISHED


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


def is_error_body(body: Any) -> bool:
    """The API guide's §3 error shape: {"error": {"code": str, "message": str}}."""
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str))


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
        # 5xx answers other than a 503 with the contract's error body: (job, status, body).
        self.bad_answers: list[tuple[int, int, Any]] = []
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
            if observation.code >= 500 and not (observation.code == 503
                                                 and is_error_body(body)):
                with self._lock:
                    self.bad_answers.append((job_id, observation.code, body))
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
