"""compose.yaml (docs/deploy.md): valid against the Compose specification's JSON schema
(vendored in deploy/compose-spec/), and running every Procfile process from the one image with
the Procfile's own command, the dependencies that order them, and the worker's shutdown
grace."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from devstack.processes import REPO_ROOT
from tests.support.procfile import PROCFILE

COMPOSE_SPEC = REPO_ROOT / "deploy" / "compose-spec" / "compose-spec.json"
# The worker's grace plus the margin the hand-back and Celery's exit need (docs/deploy.md).
WORKER_EXIT_MARGIN_SECONDS = 10


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    return loaded


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SPEC.read_text()))
    return [f"{'/'.join(map(str, error.path))}: {error.message}"
            for error in validator.iter_errors(document)]


def test_compose_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_the_compose_spec_refuses_a_misspelt_field(compose: dict[str, Any]) -> None:
    misspelt = copy.deepcopy(compose)
    misspelt["services"]["worker"]["stop_grace"] = "40s"
    assert any("stop_grace" in error for error in schema_errors(misspelt))


def test_compose_runs_every_procfile_process_from_the_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(PROCFILE) <= set(services)
    for process in PROCFILE:
        service = services[process]
        # The entry point runs the Procfile line the argument names (deploy/entrypoint.sh).
        assert service["command"] == [process], process
        assert service["build"] == "." and service["image"] == services["web"]["image"]


def test_the_release_runs_before_the_processes_that_need_the_schema(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["release"]["restart"] == "no"
    assert services["release"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for process in ("web", "worker", "beat"):
        assert services[process]["depends_on"]["release"] == {
            "condition": "service_completed_successfully"}, process


def test_the_worker_stop_grace_covers_its_shutdown_grace(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    grace = float(worker["environment"]["WORKER_SHUTDOWN_GRACE_SECONDS"])
    stop_grace = worker["stop_grace_period"]
    assert stop_grace.endswith("s")
    assert float(stop_grace[:-1]) >= grace + WORKER_EXIT_MARGIN_SECONDS


def test_beat_runs_once(compose: dict[str, Any]) -> None:
    # Two beats would send every scheduled job twice.
    assert compose["services"]["beat"].get("deploy", {}).get("replicas", 1) == 1
