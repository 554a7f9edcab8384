"""The Procfile names the contract's processes (each one starting: tests/e2e/test_processes.py)."""

from __future__ import annotations

from tests.support.procfile import PROCFILE


def test_procfile_names_the_contract_processes() -> None:
    assert set(PROCFILE) == {"release", "web", "worker", "beat", "flower"}
