"""Check the Kubernetes manifests: `python -m deploy.kubernetes.validate` (from the repository).

Renders each kustomization (base, release, overlays/example and its release) with render.py,
the renderer of the kustomize features this folder uses (no kubectl needed; it is compared
with `kubectl kustomize` where kubectl is on PATH), then:

- validates every built-in kind, strictly (no unknown field), against the Kubernetes API's
  own schemas with `kubernetes-validate` (PyPI), like the Secret's example;
- validates KEDA's kinds (ScaledObject, TriggerAuthentication), which those schemas lack,
  against the openAPIV3Schema of KEDA's own CRDs, vendored in crds/keda/ (crds/README.md);
- checks what no schema can: the ScaledObject scales the worker Deployment on the Redis list
  Celery's generations queue uses, its TriggerAuthentication exists and reads a key the
  Secret has, and the worker's grace period leaves room for WORKER_SHUTDOWN_GRACE_SECONDS.

tests/unit/test_kubernetes_manifests.py runs the same checks in every test run, CI's included.
Needs the dev extra (kubernetes-validate, jsonpatch, jsonschema, pyyaml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

import celeryconfig
from deploy.kubernetes.render import Manifest, render

HERE = Path(__file__).resolve().parent
KUSTOMIZATIONS = ["base", "release", "overlays/example", "overlays/example/release"]
SECRET_EXAMPLE = HERE / "base" / "secret.example.yaml"
KEDA_CRDS = HERE / "crds" / "keda"
KEDA_KINDS = {"ScaledObject": "keda.sh_scaledobjects.yaml",
              "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}
# The newest Kubernetes whose schemas kubernetes-validate has: the lock pins which.
KUBERNETES_VERSION = kubernetes_validate.latest_version()
# The hand-back after the grace (workers/leases.py) and Celery's own exit need some seconds.
WORKER_EXIT_MARGIN_SECONDS = 10


class ManifestProblem(ValueError):
    """A manifest fails a schema or one of the checks below."""


def validate_builtin(objects: list[Manifest]) -> None:
    """Every object against the Kubernetes API's schema of its kind, unknown fields refused."""
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError) as error:
            raise ManifestProblem(f"{describe(obj)}: {error}") from error


def describe(obj: Manifest) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the known ones, as the API
    server's strict field validation refuses them (a CRD's schema alone would let them by)."""
    if isinstance(schema, list):
        for item in schema:
            strict(item)
    elif isinstance(schema, dict):
        for value in schema.values():
            strict(value)
        if isinstance(schema.get("properties"), dict) and \
                not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
    return schema


def crd_schema(obj: Manifest, crds: Path = KEDA_CRDS) -> dict[str, Any]:
    """The openAPIV3Schema, made strict, of the CRD version the object is written in."""
    crd = yaml.safe_load((crds / KEDA_KINDS[obj["kind"]]).read_text())
    group, _, version = obj["apiVersion"].partition("/")
    served = [entry for entry in crd["spec"]["versions"]
              if entry["name"] == version and entry.get("served")]
    if crd["spec"]["group"] != group or not served:
        raise ManifestProblem(f"{describe(obj)}: KEDA serves no {obj['apiVersion']}")
    return dict(strict(served[0]["schema"]["openAPIV3Schema"]))


def validate_keda(objects: list[Manifest], crds: Path = KEDA_CRDS) -> None:
    for obj in objects:
        validator = jsonschema.Draft7Validator(crd_schema(obj, crds))
        errors = [f"{'/'.join(map(str, error.path))}: {error.message}"
                  for error in validator.iter_errors(obj)]
        if errors:
            raise ManifestProblem(f"{describe(obj)}: " + "; ".join(errors))


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise ManifestProblem(f"no {kind} named {name}")


def worker_scaling_problems(objects: list[Manifest]) -> list[str]:
    """What is wrong with how KEDA scales the worker: nothing, if the list is empty."""
    scaled = find(objects, "ScaledObject", "headshots-worker")
    worker = find(objects, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    [trigger] = scaled["spec"]["triggers"]
    problems = []
    if trigger["type"] != "redis":
        problems.append(f"trigger type {trigger['type']}, not redis")
    if trigger["metadata"].get("listName") != celeryconfig.task_default_queue:
        problems.append(f"listName {trigger['metadata'].get('listName')!r} is not Celery's "
                        f"queue {celeryconfig.task_default_queue!r}")
    auth = find(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    secret_keys = yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"].keys()
    problems += [f"TriggerAuthentication reads {ref['key']}, which the Secret lacks"
                 for ref in auth["spec"]["secretTargetRef"] if ref["key"] not in secret_keys]
    config = find(objects, "ConfigMap", "headshots-config")["data"]
    grace = float(config["WORKER_SHUTDOWN_GRACE_SECONDS"])
    period = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    if period < grace + WORKER_EXIT_MARGIN_SECONDS:
        problems.append(f"worker terminationGracePeriodSeconds {period} < "
                        f"WORKER_SHUTDOWN_GRACE_SECONDS {grace:g} + {WORKER_EXIT_MARGIN_SECONDS}")
    return problems


def check(objects: list[Manifest]) -> None:
    """Every check of one rendered kustomization; raises ManifestProblem on the first failing."""
    validate_builtin([obj for obj in objects if obj["kind"] not in KEDA_KINDS])
    validate_keda([obj for obj in objects if obj["kind"] in KEDA_KINDS])
    if any(obj["kind"] == "ScaledObject" for obj in objects):
        problems = worker_scaling_problems(objects)
        if problems:
            raise ManifestProblem("worker scaling: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None) \
        .parse_args(argv)
    try:
        for kustomization in KUSTOMIZATIONS:
            objects = render(HERE / kustomization)
            check(objects)
            print(f"{kustomization}: {len(objects)} objects pass")
        validate_builtin([yaml.safe_load(SECRET_EXAMPLE.read_text())])
        print(f"{SECRET_EXAMPLE.relative_to(HERE)}: passes")
    except ValueError as problem:  # ManifestProblem, UnsupportedKustomization
        print(f"validate: {problem}", file=sys.stderr)
        return 1
    print(f"(Kubernetes {KUBERNETES_VERSION} schemas, strict; "
          f"KEDA CRDs in {KEDA_CRDS.relative_to(HERE)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
