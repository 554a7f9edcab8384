"""The Kubernetes manifests (deploy/kubernetes/), as applied: each kustomization rendered by
deploy/kubernetes/render.py, then validated strictly against the Kubernetes API's schemas
(kubernetes-validate) and KEDA's vendored CRDs, and checked against the code (Celery's queue,
the worker's shutdown grace, the Secret's keys). These run everywhere, CI included, with no
kubectl; tests/integration/test_kustomize_render.py proves render.py renders as kubectl does
where kubectl is on PATH. The renderer refuses what it does not do as kustomize does."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from deploy.kubernetes.render import Manifest, UnsupportedKustomization, render
from deploy.kubernetes.validate import (
    HERE,
    KUSTOMIZATIONS,
    SECRET_EXAMPLE,
    ManifestProblem,
    check,
    find,
    validate_builtin,
    validate_keda,
    worker_scaling_problems,
)


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return render(HERE / "overlays" / "example")


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_kustomization_passes_the_schemas_and_checks(kustomization: str) -> None:
    objects = render(HERE / kustomization)
    assert objects
    check(objects)


def test_the_secret_example_passes_the_schema() -> None:
    validate_builtin([yaml.safe_load(SECRET_EXAMPLE.read_text())])


def test_the_overlay_sets_namespace_image_labels_and_settings(overlay: list[Manifest]) -> None:
    assert {obj["metadata"]["namespace"] for obj in overlay} == {"headshots"}
    assert all(obj["metadata"]["labels"]["app.kubernetes.io/name"] == "headshots"
               for obj in overlay)
    images = {container["image"] for obj in overlay if obj["kind"] == "Deployment"
              for container in obj["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.com/headshots:1.4.2"}
    config = find(overlay, "ConfigMap", "headshots-config")["data"]
    assert config["PUBLIC_BASE_URL"] == "https://headshots.example.com"
    assert config["S3_REGION"] == "eu-central-1"
    [trigger] = find(overlay, "ScaledObject", "headshots-worker")["spec"]["triggers"]
    assert trigger["metadata"]["address"] == "redis.headshots-data.svc.cluster.local:6379"


def test_the_release_overlay_names_its_job_after_the_version() -> None:
    [job] = render(HERE / "overlays" / "example" / "release")
    assert (job["kind"], job["metadata"]["name"]) == ("Job", "headshots-release-1-4-2")
    assert job["metadata"]["namespace"] == "headshots"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/headshots:1.4.2"


def test_an_unknown_field_fails_the_kubernetes_schema(overlay: list[Manifest]) -> None:
    web = copy.deepcopy(find(overlay, "Deployment", "headshots-web"))
    web["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(ManifestProblem, match="imagePullPolicyy"):
        validate_builtin([web])


def test_an_unknown_field_fails_the_keda_schema(overlay: list[Manifest]) -> None:
    scaled = copy.deepcopy(find(overlay, "ScaledObject", "headshots-worker"))
    scaled["spec"]["maxReplicas"] = 20  # KEDA's field is maxReplicaCount
    with pytest.raises(ManifestProblem, match="maxReplicas"):
        validate_keda([scaled])
    scaled = copy.deepcopy(find(overlay, "ScaledObject", "headshots-worker"))
    scaled["spec"]["pollingInterval"] = "30s"  # an integer in KEDA's schema
    with pytest.raises(ManifestProblem, match="pollingInterval"):
        validate_keda([scaled])


def test_the_scaling_checks_catch_a_wrong_queue_grace_or_key(overlay: list[Manifest]) -> None:
    assert worker_scaling_problems(overlay) == []
    broken = copy.deepcopy(overlay)
    find(broken, "ScaledObject", "headshots-worker")["spec"]["triggers"][0]["metadata"][
        "listName"] = "celery"
    find(broken, "ConfigMap", "headshots-config")["data"]["WORKER_SHUTDOWN_GRACE_SECONDS"] = "40"
    find(broken, "TriggerAuthentication", "headshots-redis")["spec"]["secretTargetRef"][0][
        "key"] = "REDIS_PASS"
    problems = worker_scaling_problems(broken)
    assert len(problems) == 3, problems
    assert "listName 'celery'" in problems[0]
    assert "REDIS_PASS" in problems[1]
    assert "WORKER_SHUTDOWN_GRACE_SECONDS 40" in problems[2]
    with pytest.raises(ManifestProblem, match="worker scaling"):
        check(broken)


def write_kustomization(folder: Path, kustomization: str,
                        resources: str = "kind: ConfigMap\napiVersion: v1\n"
                                         "metadata: {name: settings}\ndata: {A: a}\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(kustomization)
    (folder / "objects.yaml").write_text(resources)
    return folder


def test_the_renderer_applies_a_json_patch_and_a_namespace(tmp_path: Path) -> None:
    folder = write_kustomization(tmp_path, """
resources: [objects.yaml]
namespace: one
patches:
  - target: {kind: ConfigMap, name: settings}
    patch: |-
      - {op: add, path: /data/B, value: b}
""")
    [settings] = render(folder)
    assert settings["data"] == {"A": "a", "B": "b"}
    assert settings["metadata"]["namespace"] == "one"


@pytest.mark.parametrize(("kustomization", "refusal"), [
    ("resources: [objects.yaml]\ncommonLabels: {a: b}\n", "commonLabels: not supported"),
    ("resources: [objects.yaml]\nconfigMapGenerator: [{name: x, literals: [A=a]}]\n",
     "configMapGenerator: not supported"),
    ("resources: [objects.yaml]\nnamePrefix: x-\n", "namePrefix: not supported"),
    ("resources: [objects.yaml]\nnameSuffix: -2\n", "nameSuffix on a ConfigMap"),
    ("resources: [objects.yaml]\nlabels: [{pairs: {a: b}}]\n", "labels entry"),
    ("resources: [objects.yaml]\nlabels: [{pairs: {a: b}, includeSelectors: true}]\n",
     "labels entry"),
    ("resources: [objects.yaml]\nimages: [{name: x, digest: 'sha256:00'}]\n", "images entry"),
    ("resources: [objects.yaml]\npatches: [{path: p.yaml}]\n", "supported: target and patch"),
    ("resources: [objects.yaml]\n"
     "patches: [{target: {kind: ConfigMap, name: 'sett.*'}, patch: '[]'}]\n", "plain name"),
    ("resources: [objects.yaml]\n"
     "patches: [{target: {kind: ConfigMap, name: settings}, patch: 'data: {B: b}'}]\n",
     "strategic-merge"),
    ("resources: [objects.yaml]\n"
     "patches: [{target: {kind: Secret, name: settings}, patch: '[]'}]\n", "matches no object"),
    ("resources: [https://example.com/base]\n", "remote resource"),
    ("resources: [missing.yaml]\n", "does not exist"),
])
def test_the_renderer_refuses_what_it_does_not_do(
        tmp_path: Path, kustomization: str, refusal: str) -> None:
    with pytest.raises(UnsupportedKustomization, match=refusal):
        render(write_kustomization(tmp_path, kustomization))


def test_the_renderer_refuses_a_kind_it_does_not_know(tmp_path: Path) -> None:
    folder = write_kustomization(
        tmp_path, "resources: [objects.yaml]\n",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\n")
    with pytest.raises(UnsupportedKustomization, match="kind CronJob"):
        render(folder)
