"""Run the fake GetImg server (`python -m fakes.getimg`) as a real subprocess.

    fake = start_fake_getimg()            # a free port unless one is given
    fake.configure(script=["429", "ok"])  # knobs change at runtime, no restart
    fake.stats()["generation_calls"]
    fake.stop()

Extra keyword arguments become environment variables of the process, e.g.
`start_fake_getimg(GETIMG_FAKE_LATENCY_MS="200")`.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "getimg-fake listening on "


class FakeGetImg:
    """A running fake: its base URL and its control API."""

    def __init__(self, process: subprocess.Popen[str], url: str, log: IO[str]) -> None:
        self.process = process
        self.url = url
        self._log = log
        self._http = requests.Session()

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Merge knobs into the running config; returns the whole config."""
        return self._control("POST", "/_fake/config", json=knobs)

    def reset(self) -> dict[str, Any]:
        """Back to the start-up config; counters, limits and the script cleared."""
        return self._control("POST", "/_fake/reset")

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_fake/stats")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> FakeGetImg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, self.url + path, timeout=10, **kwargs)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def fake_getimg_command(port: int) -> list[str]:
    """The fake's command line, on 127.0.0.1:`port` (0: a free port, said on its stdout)."""
    return [sys.executable, "-m", "fakes.getimg", "--host", "127.0.0.1", "--port", str(port)]


def start_fake_getimg(port: int | None = None, *, ready_timeout: float = 15.0,
                      **env: str) -> FakeGetImg:
    """Start the fake and wait until it answers; raise RuntimeError if it does not in time."""
    # Outlives this function (the fake's stderr, shown when it fails): FakeGetImg closes it.
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w+", prefix="getimg-fake-", suffix=".log", delete=False)
    process = subprocess.Popen(
        fake_getimg_command(port or 0),
        cwd=REPO_ROOT, env={**os.environ, **{k: str(v) for k, v in env.items()}},
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    deadline = time.monotonic() + ready_timeout
    try:
        url = _read_ready_line(process, deadline)
        fake = FakeGetImg(process, url, log)
        _wait_until_answering(fake, deadline)
    except BaseException:
        process.kill()
        process.wait()
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-2000:]
        log.close()
        Path(log.name).unlink(missing_ok=True)
        raise RuntimeError(f"fake GetImg did not start; its log ends with:\n{tail}") from None
    return fake


def _read_ready_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:  # the process ended
                break
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX):].strip()
    raise TimeoutError("no 'listening' line from the fake")


def _wait_until_answering(fake: FakeGetImg, deadline: float) -> None:
    while True:
        try:
            fake.stats()
            return
        except requests.RequestException:
            if time.monotonic() > deadline or fake.process.poll() is not None:
                raise
            time.sleep(0.05)
