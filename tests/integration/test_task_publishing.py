"""What the web process puts on the queue for a job (services/queue.py): the message the worker
and Flower read, checked on the broker's own list."""

from __future__ import annotations

import json
from typing import Any, cast

from config.logs import request_id_bound
from services.queue import enqueue_job, enqueue_jobs
from services.redis_client import get_redis

QUEUE = "headshots"


def _queued(generation_ids: set[int]) -> dict[int, bytes]:
    """The raw messages of these jobs' tasks on the queue, by job."""
    found: dict[int, bytes] = {}
    for raw in cast(list[bytes], get_redis().lrange(QUEUE, 0, -1)):
        args = json.loads(raw)["headers"].get("argsrepr", "")
        generation_id = int(args.strip("[]")) if args.strip("[]").isdigit() else None
        if generation_id in generation_ids:
            found[generation_id] = raw
    return found


def test_a_job_s_task_carries_its_name_args_shadow_and_request_id(client: Any) -> None:
    one, several = 9_000_000_001, [9_000_000_002, 9_000_000_003]
    try:
        with request_id_bound("req-publish-1"):
            enqueue_job(one)
            assert enqueue_jobs(several) == {}
        messages = {job: json.loads(raw) for job, raw in _queued({one, *several}).items()}
        assert set(messages) == {one, *several}
        for generation_id, message in messages.items():
            headers = message["headers"]
            assert headers["task"] == "headshots.generate"
            assert headers["shadow"] == f"headshots.generate headshot={generation_id}"
            assert headers["argsrepr"] == f"[{generation_id}]"
            assert headers["kwargsrepr"] == "{}"
            assert headers["request_id"] == "req-publish-1"
            assert headers["id"]  # each its own task id
            assert message["properties"]["delivery_info"]["routing_key"] == QUEUE
        assert len({m["headers"]["id"] for m in messages.values()}) == 3
    finally:
        for raw in _queued({one, *several}).values():  # no worker here: leave nothing
            get_redis().lrem(QUEUE, 0, raw.decode())
