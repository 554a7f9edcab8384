"""deploy/kubernetes/render.py renders every kustomization exactly as kustomize does.

Runs only where `kubectl` (or `kustomize`) is on PATH, as on the development machine; CI's
Debian 12 has neither, and runs the rest (tests/unit/test_kubernetes_manifests.py: the
schemas and the checks, on render.py's output) without it. So a change to a kustomization
or to render.py is compared with kubectl here before CI validates render.py's output."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from deploy.kubernetes.render import Manifest, render
from deploy.kubernetes.validate import HERE, KUSTOMIZATIONS


def kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def by_identity(objects: list[Manifest]) -> dict[tuple[str, str, str, str], Manifest]:
    identities = {(obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""),
                   obj["metadata"]["name"]): obj for obj in objects}
    assert len(identities) == len(objects), "two objects with one identity"
    return identities


@pytest.mark.skipif(kustomize_command() is None, reason="neither kubectl nor kustomize on PATH")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_render_matches_kubectl_kustomize(kustomization: str) -> None:
    command = kustomize_command()
    assert command is not None
    output = subprocess.run([*command, str(HERE / kustomization)], check=True,
                            capture_output=True, text=True, timeout=60).stdout
    expected = by_identity([doc for doc in yaml.safe_load_all(output) if doc])
    rendered = by_identity(render(HERE / kustomization))
    assert sorted(rendered) == sorted(expected)
    for identity, obj in expected.items():
        assert rendered[identity] == obj, identity
