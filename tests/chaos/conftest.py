"""The chaos suite's fixtures (a PostgreSQL server of the suite's own, a whole stack per
scenario) and its summary lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.postgres_cluster import PostgresCluster
from tests.support.chaos.promise import SUMMARY_LINES
from tests.support.chaos.stack import ChaosStack


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARY_LINES:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def chaos_postgres() -> Iterator[PostgresCluster]:
    """The suite's own PostgreSQL server: scenarios stop and start it, which they must never do
    to the machine's shared one (other test runs, CI)."""
    cluster = PostgresCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def chaos(tmp_path: Path, chaos_postgres: PostgresCluster) -> Iterator[Callable[..., ChaosStack]]:
    """Starts the scenario's own stack: `stack = chaos("name", workers=2, fake={...})`.

    Function-scoped: every process, the database and the media folder belong to one scenario
    and are gone after it, so a scenario cannot poison the next one.
    """
    stacks: list[ChaosStack] = []

    def start(name: str, **options: Any) -> ChaosStack:
        stack = ChaosStack(name, tmp_path / f"stack{len(stacks)}", postgres=chaos_postgres,
                           **options)
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.close()
