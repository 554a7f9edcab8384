"""Unit tests: no PostgreSQL, no Redis, no subprocess, no network. The whole tier runs in
seconds (`pytest -m unit`)."""

from __future__ import annotations

import pytest

from tests.support.tiers import refuse_services


@pytest.fixture(autouse=True)
def connects_to_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_services(monkeypatch)
