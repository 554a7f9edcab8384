"""Fixtures of the hostile-input suite, and the count of inputs it tried."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.hostile import TRIED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        themes = ", ".join(f"{theme} {count}" for theme, count in sorted(TRIED.items()))
        terminalreporter.write_line(
            f"hostile inputs tried: {sum(TRIED.values())} ({themes})")


@pytest.fixture(scope="session")
def victim(stack: dict[str, int]) -> dict[str, Any]:
    """Someone else: a user with an upload and a queued, a completed and a failed job."""
    user_id = funded_user(10)
    key = stored_upload(user_id)
    return {
        "user_id": user_id,
        "upload_key": key,
        "queued": make_job(user_id, key, "queued"),
        "completed": make_job(user_id, key, "completed"),
        "failed": make_job(user_id, key, "failed"),
    }
