"""Check the Kubernetes manifests: `python deploy/kubernetes/validate.py --keda-crds DIR`.

Renders each kustomization (base, release, overlays/example and its release) with
`kubectl kustomize` (or `kustomize build`), then:

- validates every built-in kind, strictly (no unknown field), against the Kubernetes API's
  own schemas with `kubernetes-validate` (PyPI), like the Secret's example;
- validates KEDA's kinds (ScaledObject, TriggerAuthentication), which those schemas lack,
  against the openAPIV3Schema of KEDA's own CRDs: DIR holds keda.sh_scaledobjects.yaml and
  keda.sh_triggerauthentications.yaml from KEDA's release (config/crd/bases in its
  repository); without --keda-crds that step is skipped and said so;
- checks what no schema can: the ScaledObject scales the worker Deployment on the Redis list
  Celery's generations queue uses, its TriggerAuthentication exists and reads a key the
  Secret has, and the worker's grace period leaves room for WORKER_SHUTDOWN_GRACE_SECONDS.

Needs kubectl or kustomize on PATH, and `pip install kubernetes-validate jsonschema pyyaml`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
KUSTOMIZATIONS = ["base", "release", "overlays/example", "overlays/example/release"]
SECRET_EXAMPLE = HERE / "base" / "secret.example.yaml"
KEDA_KINDS = {"ScaledObject": "keda.sh_scaledobjects.yaml",
              "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}
# The hand-back after the grace (workers/leases.py) and Celery's own exit need some seconds.
WORKER_EXIT_MARGIN_SECONDS = 10


def render(kustomization: str) -> list[dict[str, Any]]:
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(HERE / kustomization)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(HERE / kustomization)]
    else:
        raise SystemExit("validate: needs kubectl or kustomize on PATH")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def validate_builtin(objects: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "manifest.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        subprocess.run(["kubernetes-validate", "--strict", "--quiet", str(manifest)], check=True)
    print(f"kubernetes-validate --strict: {len(objects)} objects pass")


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


def crd_schema(crd_file: Path) -> dict[str, Any]:
    crd = yaml.safe_load(crd_file.read_text())
    served = [version for version in crd["spec"]["versions"] if version.get("served")]
    return dict(strict(served[0]["schema"]["openAPIV3Schema"]))


def validate_keda(objects: list[dict[str, Any]], crds: Path | None) -> None:
    if not objects:
        return
    if crds is None:
        print(f"KEDA CRD schemas: skipped ({len(objects)} objects; give --keda-crds DIR)")
        return
    for obj in objects:
        validator = jsonschema.Draft7Validator(crd_schema(crds / KEDA_KINDS[obj["kind"]]))
        errors = [f"{'/'.join(map(str, error.path))}: {error.message}"
                  for error in validator.iter_errors(obj)]
        if errors:
            raise SystemExit(f"{obj['kind']}/{obj['metadata']['name']}: " + "; ".join(errors))
    print(f"KEDA CRD schemas ({crds}): {len(objects)} objects pass")


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise SystemExit(f"no {kind} named {name}")


def check_worker_scaling(objects: list[dict[str, Any]]) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    import celeryconfig

    scaled = find(objects, "ScaledObject", "headshots-worker")
    worker = find(objects, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    [trigger] = scaled["spec"]["triggers"]
    problems = []
    if trigger["type"] != "redis":
        problems.append(f"trigger type {trigger['type']}, not redis")
    if trigger["metadata"].get("listName") != celeryconfig.task_default_queue:
        problems.append(f"listName is not Celery's queue {celeryconfig.task_default_queue}")
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
    if problems:
        raise SystemExit("worker scaling: " + "; ".join(problems))
    print(f"worker scaling: redis list {trigger['metadata']['listName']!r} scales "
          f"{worker['metadata']['name']}; grace {period} s >= {grace:g} + "
          f"{WORKER_EXIT_MARGIN_SECONDS} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keda-crds", type=Path, help="folder with KEDA's CRD files")
    args = parser.parse_args(argv)
    for kustomization in KUSTOMIZATIONS:
        objects = render(kustomization)
        print(f"== {kustomization}: {len(objects)} objects")
        validate_builtin([obj for obj in objects if obj["kind"] not in KEDA_KINDS])
        validate_keda([obj for obj in objects if obj["kind"] in KEDA_KINDS], args.keda_crds)
        if any(obj["kind"] == "ScaledObject" for obj in objects):
            check_worker_scaling(objects)
    print(f"== {SECRET_EXAMPLE.relative_to(HERE)}")
    validate_builtin([yaml.safe_load(SECRET_EXAMPLE.read_text())])
    return 0


if __name__ == "__main__":
    sys.exit(main())
