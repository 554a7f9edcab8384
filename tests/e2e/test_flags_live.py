"""A flag change reaches every web process within seconds (§14): the real `web` process,
gunicorn with two workers, each with its own copy of the flags. Every probe carries its own
`X-Request-Id`, and the web log says which worker process answered it, so the test knows both
processes answered with the new value, not just the one that took the change."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.domain import funded_user, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.flags import reset_flags
from tests.support.hostile import assert_unchanged, footprint
from tests.support.session import RUN_DIR
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

DEADLINE_SECONDS = 20.0  # the design says about a second; the deadline allows a loaded machine
AGREEING = 20  # answers in a row, from both processes, that show the new value


@pytest.fixture(autouse=True)
def _flags_back_to_defaults() -> Iterator[None]:
    reset_flags()
    yield
    reset_flags()


def _answered_by() -> dict[str, int]:
    """request id -> the web worker process that logged it."""
    processes = {}
    for line in (RUN_DIR / "web.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"request_id"' in line:
            record = json.loads(line)
            if record.get("logger") == "api.requests":
                processes[record["request_id"]] = record["process"]
    return processes


def _until_every_process_says(web: str, user_id: int, flag: str, expected: bool) -> float:
    """Poll `/api/me` until AGREEING answers in a row show `expected` and both worker
    processes gave some of them; returns the seconds it took."""
    started = time.monotonic()
    answers: list[tuple[str, bool]] = []
    while time.monotonic() - started < DEADLINE_SECONDS:
        request_id = f"flags-{uuid.uuid4().hex[:16]}"
        # A new connection each time (no session): gunicorn hands it to either worker.
        answer = requests.get(f"{web}/api/me", timeout=10,
                              headers={**auth(user_id), "X-Request-Id": request_id})
        assert answer.status_code == 200, answer.text
        answers.append((request_id, answer.json()["features"][flag]))
        if answers[-1][1] != expected or len(answers) % 10:
            continue
        last_old = max((i for i, (_, value) in enumerate(answers) if value != expected),
                       default=-1)
        agreeing = [request_id for request_id, _ in answers[last_old + 1:]]
        processes = {_answered_by().get(request_id) for request_id in agreeing} - {None}
        if len(agreeing) >= AGREEING and len(processes) >= 2:
            return time.monotonic() - started
    raise AssertionError(f"{flag} not {expected} in every web process within "
                         f"{DEADLINE_SECONDS} s: last answers {answers[-5:]}")


def test_a_flag_change_reaches_both_web_processes_within_seconds(web: str) -> None:
    user_id = new_user_id()
    operator = auth(new_user_id(), role="admin")
    _until_every_process_says(web, user_id, "batch", True)  # both have read the table

    changed = requests.put(f"{web}/api/admin/flags/batch", headers=operator, timeout=10,
                           json={"enabled": False})
    assert changed.status_code == 200, changed.text
    off_after = _until_every_process_says(web, user_id, "batch", False)

    payer = funded_user(5)
    url = signed_url(stored_upload(payer))
    before = footprint(payer)
    for _ in range(6):  # whichever process answers
        assert_error(requests.post(f"{web}/api/headshots/batch", headers=auth(payer),
                                   json={"imageUrl": url, "styles": ["corporate"]}, timeout=10),
                     403, "feature_disabled")
    assert_unchanged(before, footprint(payer), "a batch while batches are off")

    assert requests.put(f"{web}/api/admin/flags/batch", headers=operator, timeout=10,
                        json={"enabled": True}).status_code == 200
    on_after = _until_every_process_says(web, user_id, "batch", True)
    print(f"both web processes followed: off after {off_after:.2f} s, on after {on_after:.2f} s")
