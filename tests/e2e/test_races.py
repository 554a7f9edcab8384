"""Concurrent requests over the real server (gunicorn, several workers and threads): the credit
check and the Idempotency-Key reservation hold when requests race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.domain import jobs_of
from tests.support.live import LiveServer

pytestmark = pytest.mark.usefixtures("ledger_invariant")


def test_racing_requests_never_overdraw(web: str) -> None:
    """Twelve concurrent generate calls against three credits: exactly three are accepted."""
    user = LiveServer(web).user(credits=3)
    url = user.upload()

    def attempt(_: int) -> int:
        return user.generate(url).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(attempt, range(12)))
    assert statuses == [202] * 3 + [402] * 9
    assert user.credits() == 0
    assert jobs_of(user.user_id) == 3


def test_racing_requests_with_one_key_charge_once(web: str) -> None:
    user = LiveServer(web).user(credits=10)
    url = user.upload()

    def attempt(_: int) -> tuple[int, int]:
        response = user.generate(url, **{"Idempotency-Key": "same"})
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert {status for status, _ in results} == {202}
    assert len({job for _, job in results}) == 1
    assert user.credits() == 9
    assert jobs_of(user.user_id) == 1
