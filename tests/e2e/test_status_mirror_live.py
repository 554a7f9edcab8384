"""The status mirror in the real `web` (gunicorn's gevent workers, two processes): a poll made
right after a change the client was told of never shows the state before it, whichever process
answers it, though the processes answered the earlier state from memory. (A mirror that stopped
following changes fails here: it would answer `failed` until its entries expired.)"""

from __future__ import annotations

import pytest
import requests

from tests.support.live import LiveServer

pytestmark = pytest.mark.usefixtures("ledger_invariant")

ROUNDS = 10
POLLS = 6  # each on a connection of its own, so both processes answer some


def _polled(web: str, user_headers: dict[str, str], job_id: int) -> list[str]:
    return [requests.get(f"{web}/api/headshots/status/{job_id}", headers=user_headers,
                         timeout=10).json()["status"] for _ in range(POLLS)]


def test_a_retry_is_never_polled_as_the_failure_before_it(web: str) -> None:
    server = LiveServer(web)
    for _ in range(ROUNDS):
        user = server.user(credits=2)
        job_id = user.queue()["id"]
        cancelled = user.call("POST", f"/api/headshots/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        # Learned by every process, and answered from memory.
        assert set(_polled(web, user.headers, job_id)) == {"failed"}
        retried = user.call("POST", f"/api/headshots/{job_id}/retry")
        assert retried.status_code == 202, retried.text
        after = _polled(web, user.headers, job_id)
        assert "failed" not in after, after  # queued, or further on if a worker took it
