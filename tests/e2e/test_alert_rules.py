"""The shipped Prometheus alerting rules are valid and do what ops/prometheus/alerts_test.yml
says: each alert fires on the series that must fire it and stays quiet on the others."""

from __future__ import annotations

import shutil
import subprocess

from devstack.processes import REPO_ROOT

RULES = REPO_ROOT / "ops" / "prometheus"


def promtool() -> str:
    # A failure, not a skip: `./run setup` installs it (Debian's `prometheus` package).
    path = shutil.which("promtool")
    assert path, "promtool is missing: run ./run setup (it installs Debian's prometheus)"
    return path


def test_rules_are_valid() -> None:
    result = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_and_stay_quiet_as_their_tests_say() -> None:
    result = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
