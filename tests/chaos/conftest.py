"""The chaos suite's fixture (a whole stack per scenario) and its summary lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chaos.promise import SUMMARY_LINES
from tests.support.chaos.stack import ChaosStack


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in SUMMARY_LINES:
        terminalreporter.write_line(line)


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Callable[..., ChaosStack]]:
    """Starts the scenario's own stack: `stack = chaos("name", workers=2, fake={...})`.

    Function-scoped: every process, the database and the media folder belong to one scenario
    and are gone after it, so a scenario cannot poison the next one.
    """
    stacks: list[ChaosStack] = []

    def start(name: str, **options: Any) -> ChaosStack:
        stack = ChaosStack(name, tmp_path / f"stack{len(stacks)}", **options)
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.close()
