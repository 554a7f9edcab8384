"""The Procfile's process lines, by name: how production runs the service."""

from __future__ import annotations

from devstack.processes import REPO_ROOT

PROCFILE = dict(
    line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line
)
