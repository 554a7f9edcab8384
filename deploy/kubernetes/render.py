"""Renders this repository's kustomizations as `kubectl kustomize` does, without kubectl.

CI's machine has neither kubectl nor kustomize (Debian 12's kubectl is too old for `labels:`),
yet the manifests must be validated there as applied. So this renders exactly the kustomize
features deploy/kubernetes/ uses, and refuses every other one by name: a kustomization that
starts using another field, or a kind whose treatment kustomize special-cases, fails here
rather than being rendered differently from kubectl. Where kubectl is on PATH,
tests/integration/test_kustomize_render.py renders every kustomization both ways and compares.

Supported, in kustomize's order within one kustomization:
- `resources`: YAML files (one or more documents) and folders holding a kustomization,
  rendered first, whole;
- `patches`: JSON 6902 operations (a YAML list), inline (`patch`), on a `target` given by kind
  and name; a patch matching no object is refused (kustomize would skip it in silence);
- `namespace`: set on every object;
- `nameSuffix`: on Jobs only (for any other kind kustomize also renames the references to it);
- `labels`: `pairs` with `includeSelectors: false` (metadata.labels only);
- `images`: `name` with `newName` and/or `newTag`, on the pod template's containers.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

SUPPORTED_FIELDS = frozenset({
    "apiVersion", "kind", "resources", "patches", "namespace", "nameSuffix", "labels", "images",
})
# The kinds whose every field kustomize's transformers touch are the ones handled here: all
# namespaced, their pod template (if any) at spec.template.spec.
SUPPORTED_KINDS = frozenset({
    "ConfigMap", "Secret", "Service", "Deployment", "Job", "PodDisruptionBudget",
    "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication",
})
SUFFIXED_KINDS = frozenset({"Job"})
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize reads a patch target's name as a regular expression; a plain name means itself.
PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")

Manifest = dict[str, Any]


class UnsupportedKustomization(ValueError):
    """The kustomization asks for something this renderer does not do as kustomize does."""


def render(folder: Path) -> list[Manifest]:
    """The objects `kubectl kustomize folder` prints, in no particular order."""
    kustomization_file = next((folder / name for name in KUSTOMIZATION_FILES
                               if (folder / name).is_file()), None)
    if kustomization_file is None:
        raise UnsupportedKustomization(f"{folder}: no kustomization.yaml")
    spec = yaml.safe_load(kustomization_file.read_text()) or {}
    where = str(kustomization_file)
    unknown = sorted(set(spec) - SUPPORTED_FIELDS)
    if unknown:
        raise UnsupportedKustomization(
            f"{where}: {', '.join(unknown)}: not supported by deploy/kubernetes/render.py; "
            "teach it (and check it against kubectl kustomize) or do without")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise UnsupportedKustomization(f"{where}: kind {spec['kind']}, not Kustomization")

    objects = load_resources(folder, spec.get("resources", []), where)
    for patch in spec.get("patches", []):
        apply_patch(objects, patch, where)
    if "namespace" in spec:
        for obj in objects:
            obj["metadata"]["namespace"] = spec["namespace"]
    if "nameSuffix" in spec:
        add_name_suffix(objects, spec["nameSuffix"], where)
    for label in spec.get("labels", []):
        add_labels(objects, label, where)
    for image in spec.get("images", []):
        set_image(objects, image, where)
    return objects


def load_resources(folder: Path, resources: list[str], where: str) -> list[Manifest]:
    objects: list[Manifest] = []
    for resource in resources:
        if "://" in resource or resource.startswith("github.com/"):
            raise UnsupportedKustomization(f"{where}: remote resource {resource}")
        path = folder / resource
        if path.is_dir():
            objects += render(path)
        elif path.is_file():
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        else:
            raise UnsupportedKustomization(f"{where}: resource {resource} does not exist")
    seen = set()
    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        if kind not in SUPPORTED_KINDS:
            raise UnsupportedKustomization(
                f"{where}: kind {kind} ({name}) is not one render.py knows kustomize's "
                f"treatment of: {', '.join(sorted(SUPPORTED_KINDS))}")
        identity = (kind, obj["metadata"].get("namespace"), name)
        if identity in seen:
            raise UnsupportedKustomization(f"{where}: {kind} {name} is there twice")
        seen.add(identity)
    return objects


def apply_patch(objects: list[Manifest], patch: dict[str, Any], where: str) -> None:
    if set(patch) != {"target", "patch"}:
        raise UnsupportedKustomization(
            f"{where}: a patch has {', '.join(sorted(patch))}; supported: target and patch")
    target = patch["target"]
    if set(target) - {"kind", "name"} or not PLAIN_NAME.fullmatch(str(target.get("name", ""))):
        raise UnsupportedKustomization(
            f"{where}: patch target {target}; supported: kind and a plain name")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise UnsupportedKustomization(
            f"{where}: a strategic-merge patch on {target}; supported: JSON 6902 operations")
    matched = [index for index, obj in enumerate(objects)
               if obj["metadata"]["name"] == target["name"]
               and obj["kind"] == target.get("kind", obj["kind"])]
    if not matched:
        raise UnsupportedKustomization(f"{where}: patch target {target} matches no object")
    for index in matched:
        objects[index] = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(objects[index]))


def add_name_suffix(objects: list[Manifest], suffix: str, where: str) -> None:
    for obj in objects:
        if obj["kind"] not in SUFFIXED_KINDS:
            raise UnsupportedKustomization(
                f"{where}: nameSuffix on a {obj['kind']}: kustomize would also rename the "
                "references to it, which render.py does not")
        obj["metadata"]["name"] += suffix


def add_labels(objects: list[Manifest], label: dict[str, Any], where: str) -> None:
    if set(label) != {"pairs", "includeSelectors"} or label["includeSelectors"] is not False:
        raise UnsupportedKustomization(
            f"{where}: labels entry {label}; supported: pairs with includeSelectors: false")
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(
            {key: str(value) for key, value in label["pairs"].items()})


def set_image(objects: list[Manifest], image: dict[str, Any], where: str) -> None:
    if "name" not in image or set(image) - {"name", "newName", "newTag"}:
        raise UnsupportedKustomization(
            f"{where}: images entry {image}; supported: name, newName, newTag")
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag = split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            tag = f":{image['newTag']}" if "newTag" in image else tag
            container["image"] = name + tag


def split_image(reference: str) -> tuple[str, str]:
    """`registry/name:tag` into `registry/name` and `:tag` (or a digest, `@sha256:...`)."""
    if "@" in reference:
        name, digest = reference.split("@", 1)
        return name, "@" + digest
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = reference.rsplit(":", 1)
        return name, ":" + tag
    return reference, ""
