"""Flower as the operators run it: the Procfile's own line, on this test run's Redis, behind
basic-auth credentials made up per run."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from devstack.processes import BIN, REPO_ROOT, Service
from devstack.waiting import wait_until

USER, PASSWORD = "ops", "s3cret-" + os.urandom(4).hex()
PROCFILE = dict(
    line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line
)


def start_flower(tmp_dir: Path, port: int, **env: str) -> Service:
    service = Service(f"flower-{port}", ["bash", "-c", PROCFILE["flower"]], log_dir=tmp_dir,
                      env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",
                           "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
                           **env})
    service.start()

    def answering() -> bool:
        if not service.running:
            raise RuntimeError(f"flower exited:\n{service.log_tail()}")
        return requests.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2).status_code > 0

    wait_until(answering, timeout=30, message="flower", ignore=(requests.ConnectionError,))
    return service
