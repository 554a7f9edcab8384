"""Rules over the WHOLE `/openapi.json` (API guide §10, §12), so a route added later is held to
them without a test of its own: what a generated client needs to take the document as is.

- every parameter is typed, and no query model lingers as a component;
- every component is referenced (nothing dead, nothing leaking how the code is laid out);
- every operation lists its errors, and each error answer names the `code`s it may carry;
- every enum whose values are not names (`4:5`) is a component with readable member names;
- the binary answers say so, and those that are files name them (`Content-Disposition`);
- `servers` and the completion webhooks are there; no message says "Value error,".
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.openapi import build_document
from config import get_settings
from models.outbox import EventType

pytestmark = pytest.mark.usefixtures("stack")

METHODS = ("get", "put", "post", "delete", "patch")
SNAKE_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|`[a-z]+`")
# `services/x`, `x.py`; not a URL's path (`/api/admin/...`)
SOURCE_PATH = re.compile(r"(?<![/\w])(?:api|services|models|workers|media|config)/\w+|\w+\.py\b")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BINARY = {"type": "string", "format": "binary"}
FILE_ANSWERS = {("/api/headshots/{generation_id}/export", "get"),
                ("/api/headshots/batch/{batch_id}/download", "get"),
                ("/s/{token}/image", "get")}


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    built: dict[str, Any] = json.loads(json.dumps(build_document(app)))  # as served
    return built


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def resolved(document: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in answer:
        kind, name = answer["$ref"].split("/")[-2:]
        found: dict[str, Any] = document["components"][kind][name]
        return found
    return answer


def test_every_parameter_is_typed(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            typed = "type" in schema or "$ref" in schema or "enum" in schema
            assert typed, f"{method} {path}: {parameter['name']} has no type: {schema}"
            assert "title" not in schema, f"{method} {path}: {parameter['name']}"


def _refs(node: Any) -> set[str]:
    return {n["$ref"] for n in walk(node) if isinstance(n, dict) and "$ref" in n}


def test_every_component_is_referenced(document: dict[str, Any]) -> None:
    unreferenced = []
    for kind in ("schemas", "responses", "headers"):
        for name in document["components"][kind]:
            rest = copy.deepcopy(document)
            del rest["components"][kind][name]  # its own references to itself do not count
            if f"#/components/{kind}/{name}" not in _refs(rest):
                unreferenced.append(f"{kind}/{name}")
    assert not unreferenced, f"components nothing refers to: {unreferenced}"


def test_nothing_names_the_source_or_leaks_pydantic(document: dict[str, Any]) -> None:
    for node in walk(document):
        if isinstance(node, str):
            assert not SOURCE_PATH.search(node), f"a source path in the document: {node!r}"
            assert "Value error" not in node, node


def test_every_operation_lists_its_errors_with_their_codes(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        errors = {status: resolved(document, answer)
                  for status, answer in operation["responses"].items()
                  if status[0] in "45"}
        assert errors, f"{method} {path} lists no error"
        for status, answer in errors.items():
            if "application/json" not in answer.get("content", {}):
                continue  # a share link's plain page, for a browser
            assert SNAKE_CODE.search(answer["description"]), \
                f"{method} {path} {status}: no error code in {answer['description']!r}"


def test_enums_of_values_that_are_not_names_are_named_components(
    document: dict[str, Any]
) -> None:
    """Else a generator names the members by position (`VALUE_1`, which was 4:5, not 1:1)."""
    components = list(document["components"]["schemas"].values())
    for node in walk(document):
        if not (isinstance(node, dict) and isinstance(node.get("enum"), list)):
            continue
        # openapi-python-client names a member by its value when that starts with a letter
        if all(isinstance(v, str) and v[:1].isalpha() for v in node["enum"]):
            continue
        assert any(node is component for component in components), \
            f"an enum of values that are not names, inline: {node['enum']}; make it a component"
        names = node.get("x-enum-varnames", [])
        assert len(names) == len(node["enum"]), node
        assert all(IDENTIFIER.fullmatch(name) for name in names), node
    ratio = document["components"]["schemas"]["AspectRatio"]
    assert dict(zip(ratio["x-enum-varnames"], ratio["enum"], strict=True))["RATIO_4_5"] == "4:5"


def test_binary_answers_are_binary_and_files_are_named(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            for media_type, content in resolved(document, answer).get("content", {}).items():
                if media_type.startswith("image/") or media_type == "application/zip":
                    assert content["schema"] == BINARY, f"{method} {path} {status}"
        if (path, method) in FILE_ANSWERS:
            for status in ("200", "206"):
                if status in operation["responses"]:
                    headers = operation["responses"][status].get("headers", {})
                    assert "Content-Disposition" in headers, f"{method} {path} {status}"


def test_servers_and_webhooks(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert document["servers"][0]["url"] == get_settings().public_base_url
    assert set(document["webhooks"]) == {event.value for event in EventType}
    for event, item in document["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        model = body["$ref"].rsplit("/", 1)[1]
        kind = document["components"]["schemas"][model]["properties"]["type"]
        assert event in kind["enum"], (event, kind)
        headers = {p["name"] for p in item["post"]["parameters"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
