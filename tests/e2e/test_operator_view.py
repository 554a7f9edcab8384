"""One job as an operator follows it: its JSON log lines in the web and the worker under the
request id that started it, and its task in Flower, named by the headshot's id.

The real processes: gunicorn (`web`), the Celery worker, Flower from the Procfile's line.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.processes import Service, free_port
from devstack.waiting import wait_until
from services.redis_client import get_redis
from tests.support.flower import PASSWORD, USER, start_flower
from tests.support.live import LiveServer
from tests.support.session import RUN_DIR
from workers.task_events import FLUSH_SECONDS

pytestmark = pytest.mark.usefixtures("worker")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON object logged to `path` (a line that is not one, say a crash trace, fails)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def lines_of(path: Path, request_id: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(path) if line.get("request_id") == request_id]


def test_a_request_id_follows_the_job_from_the_api_into_the_worker(web: str) -> None:
    user = LiveServer(web).user(credits=1)
    request_id = f"app-{uuid.uuid4().hex[:12]}"
    response = user.generate(user.upload(), **{"X-Request-Id": request_id})
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-Id"] == request_id
    generation_id = response.json()["id"]
    assert user.wait_for_status(generation_id)[0]["status"] == "completed"

    web_lines = lines_of(RUN_DIR / "web.log", request_id)
    request_line = next(line for line in web_lines if line["logger"] == "api.requests")
    assert request_line["route"] == "/api/headshots/generate" and request_line["status"] == 202
    assert request_line["method"] == "POST" and isinstance(request_line["duration_ms"], float)
    assert {"time", "level", "process"} <= request_line.keys()
    created = [line for line in web_lines if line.get("change") == "created"]
    assert [line["generation_id"] for line in created] == [generation_id]

    def worker_changes() -> list[str] | None:
        changes = [line["change"] for line in lines_of(RUN_DIR / "worker.log", request_id)
                   if line.get("generation_id") == generation_id and "change" in line]
        return changes if "completed" in changes else None

    changes = wait_until(worker_changes, timeout=10, message="the worker's lines of the job")
    assert isinstance(changes, list)
    assert changes[0] == "claimed" and changes[-1] == "completed", changes
    # Celery's own "received" and "succeeded" lines of the task are not written (they say what
    # the job's lines say): workers/celery_app.py.
    task_lines = [line for line in json_lines(RUN_DIR / "worker.log")
                  if f"headshot={generation_id}[" in line["message"]]
    assert task_lines == []


def test_each_request_answers_its_own_id_and_refuses_a_hostile_one(web: str) -> None:
    first = requests.get(f"{web}/healthz", timeout=10)
    second = requests.get(f"{web}/healthz", timeout=10)
    assert len(first.headers["X-Request-Id"]) == 32
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    hostile = "x" * 65 + "\u2028"
    answer = requests.get(f"{web}/healthz", headers={"X-Request-Id": hostile.encode()},
                          timeout=10)
    assert answer.headers["X-Request-Id"] not in (hostile, "x" * 65)


@pytest.fixture(scope="module")
def flower(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    service: Service = start_flower(tmp_path_factory.mktemp("flower"), port)
    yield f"http://127.0.0.1:{port}"
    service.stop()


def test_flower_names_each_task_by_its_headshot(web: str, flower: str) -> None:
    user = LiveServer(web).user(credits=3)

    def task_in_flower(generation_id: int) -> dict[str, Any] | None:
        tasks = requests.get(f"{flower}/api/tasks", auth=(USER, PASSWORD), timeout=10,
                             params={"limit": 1000}).json()
        for task in tasks.values():
            # Flower applies the worker's events as they come: wait for the task's last one.
            if (task.get("name") == f"headshots.generate headshot={generation_id}"
                    and task.get("state") == "SUCCESS"):
                return dict(task)
        return None

    # Flower answers its health check before its event receiver has connected: a task that
    # ran in between is one it never saw. The next one it sees.
    for _ in range(3):
        generation_id = user.queue()["id"]
        assert user.wait_for_status(generation_id)[0]["status"] == "completed"
        try:
            found = wait_until(functools.partial(task_in_flower, generation_id), timeout=15,
                               message="the job's task in Flower")
            task = found if isinstance(found, dict) else None
            break
        except TimeoutError:
            continue
    assert task is not None, "Flower showed none of three tasks"
    assert task["args"] == f"[{generation_id}]" and task["state"] == "SUCCESS"


def test_the_worker_sends_flower_its_task_events_in_batches(web: str) -> None:
    """Every event of every task reaches the event exchange, gathered by workers/task_events.py's
    timer: at most one message per flush period, where Celery alone sent nearly one per event."""
    subscription = get_redis().pubsub(ignore_subscribe_messages=True)
    subscription.psubscribe("*celeryev*")  # kombu's fanout channel of the `celeryev` exchange
    user = LiveServer(web).user(credits=6)
    names = {f"headshots.generate headshot={user.queue()['id']}" for _ in range(6)}
    messages: list[list[dict[str, Any]]] = []  # the events of each message, in order

    def task_ids() -> set[str]:
        return {event["uuid"] for events in messages for event in events
                if event["type"] == "task-received" and event.get("name") in names}

    def every_task_succeeded() -> bool:
        while (message := subscription.get_message(timeout=0.2)) is not None:
            body = json.loads(base64.b64decode(json.loads(message["data"])["body"]))
            messages.append(body if isinstance(body, list) else [body])
        succeeded = {event["uuid"] for events in messages for event in events
                     if event["type"] == "task-succeeded"}
        return len(task_ids()) == len(names) and task_ids() <= succeeded

    wait_until(every_task_succeeded, timeout=60, message="the six jobs' task events")
    subscription.close()
    ours = [[event for event in events if event.get("uuid") in task_ids()] for events in messages]
    batches = [events for events in ours if events]
    assert {event["type"] for events in batches for event in events} >= {
        "task-received", "task-started", "task-succeeded"}
    stamps = [event["timestamp"] for events in batches for event in events]
    # One flush per period at most (plus the first and a timer's jitter): they did gather.
    assert len(batches) <= (max(stamps) - min(stamps)) / FLUSH_SECONDS + 3, len(batches)
    assert len(batches) < sum(len(events) for events in batches)
