"""The test tiers. A test's folder decides its tier, and its marker (registered in
pyproject.toml), so `pytest -m unit` and the others select exactly one folder each:

- `unit` (tests/unit/): no services at all, no subprocess, no network; seconds;
- `integration` (tests/integration/): PostgreSQL and Redis, the app in-process;
- `hostile` (tests/hostile/): hostile inputs, in-process and over gunicorn;
- `e2e` (tests/e2e/): real processes: gunicorn, a Celery worker, the fake GetImg server;
- `chaos` (tests/chaos/): a whole stack per scenario, with faults.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

TESTS_ROOT = Path(__file__).resolve().parents[1]
# Cheapest first, which is also the order a full run takes them. `hostile` before `e2e`: no
# worker runs yet, so the jobs a hostile test makes stay as it made them while it checks that
# nothing changed.
TIERS = ("unit", "integration", "hostile", "e2e", "chaos")
# The fixtures that start or need a service (tests/conftest.py); a unit test asks for none.
SERVICE_FIXTURES = frozenset({
    "database", "redis_server", "stack", "getimg", "fake_getimg", "worker", "web", "app",
    "client", "ledger_invariant",
})


def tier_of(item: pytest.Item) -> str:
    path = Path(item.path).resolve()
    folder = path.relative_to(TESTS_ROOT).parts[0] if path.is_relative_to(TESTS_ROOT) else ""
    if folder not in TIERS:
        raise pytest.UsageError(
            f"{item.nodeid}: a test module lives in a tier folder, tests/{{{','.join(TIERS)}}}/")
    return folder


def mark_tiers(items: list[pytest.Item]) -> None:
    """Marks every test with its folder's tier; refuses a unit test that needs a service, and a
    tier marker written by hand that contradicts the folder."""
    problems = []
    for item in items:
        tier = tier_of(item)
        declared = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if declared - {tier}:
            problems.append(f"{item.nodeid}: marked {sorted(declared)} but in tests/{tier}/")
        item.add_marker(tier)
        # `fixturenames` is the whole closure: what the test asks for, and what those ask for.
        services = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if tier == "unit" and services:
            problems.append(f"{item.nodeid}: a unit test, but needs {sorted(services)}: "
                            "move it to tests/integration/ or tests/e2e/")
    if problems:
        raise pytest.UsageError("tests in the wrong tier:\n" + "\n".join(problems))


def order_by_tier(items: list[pytest.Item]) -> list[pytest.Item]:
    """Cheapest tier first, so a broken unit test fails a full run in seconds. The sort is
    stable: a module's tests stay together, in their order."""
    return sorted(items, key=lambda item: TIERS.index(tier_of(item)))


def refuse_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on (until the test ends) connecting a socket or starting a process raises."""
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("a unit test connects to nothing and starts no process: "
                           "move it to tests/integration/ or tests/e2e/")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
