"""Every Procfile line starts from the repository root with only the contract's variables set."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from devstack.processes import BIN, REPO_ROOT, Service, free_port, wait_for_beat, wait_for_worker
from devstack.waiting import wait_until
from tests.support.procfile import PROCFILE


def _run_procfile_line(name: str, env: dict[str, str], tmp_path: Path) -> Service:
    return Service(name, ["bash", "-c", PROCFILE[name]], log_dir=tmp_path,
                   env={**env, "PATH": f"{BIN}:{os.environ['PATH']}"}).start()


def test_release_is_idempotent(stack: dict[str, int]) -> None:
    for _ in range(2):
        result = subprocess.run(["bash", "-c", PROCFILE["release"]], cwd=REPO_ROOT,
                                env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


def test_flower_refuses_to_start_without_basic_auth(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "FLOWER_BASIC_AUTH"}
    result = subprocess.run(["bash", "-c", PROCFILE["flower"]], cwd=REPO_ROOT,
                            env={**env, "PATH": f"{BIN}:{env['PATH']}"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "FLOWER_BASIC_AUTH" in result.stderr


def test_flower_serves_behind_basic_auth(stack: dict[str, int], tmp_path: Path) -> None:
    port = free_port()
    flower = _run_procfile_line("flower", {**os.environ, "FLOWER_PORT": str(port),
                                           "FLOWER_BASIC_AUTH": "ops:s3cret"}, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: requests.get(url, timeout=2).status_code == 401, timeout=30,
                   message="flower", ignore=(requests.ConnectionError,))
        assert requests.get(url, auth=("ops", "s3cret"), timeout=5).status_code == 200
    finally:
        flower.stop()


@pytest.mark.parametrize("name", ["beat", "worker"])
def test_beat_and_worker_start(stack: dict[str, int], tmp_path: Path, name: str) -> None:
    service = _run_procfile_line(name, {**os.environ, "WORKER_CONCURRENCY": "2"}, tmp_path)
    try:
        {"beat": wait_for_beat, "worker": wait_for_worker}[name](service)
        assert service.running
    finally:
        service.stop()


def test_worker_refuses_to_start_without_a_getimg_key_for_the_real_api(tmp_path: Path) -> None:
    env = {**os.environ, "GETIMG_API_URL": "https://api.getimg.ai", "GETIMG_API_KEY": ""}
    service = _run_procfile_line("worker", env, tmp_path)
    try:
        wait_until(lambda: not service.running, timeout=30, message="the worker to exit")
        assert re.search("GETIMG_API_KEY", service.log_tail())
    finally:
        service.stop()
