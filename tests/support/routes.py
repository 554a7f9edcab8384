"""Walking the app's URL map: every route, its methods, a well-formed path for it."""

from __future__ import annotations

import re

from werkzeug.routing import Rule

PARAMETER = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def route_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - SKIPPED_METHODS)


def default_value(rule: Rule, name: str) -> str:
    """A well-formed value for a path parameter, by its converter."""
    converter = type(rule._converters[name]).__name__  # noqa: SLF001
    return {"IdConverter": "1", "IntegerConverter": "1",
            "UUIDConverter": "00000000-0000-4000-8000-000000000001"}.get(converter, "x")


def path_of(rule: Rule, values: dict[str, str] | None = None) -> str:
    values = values or {}
    return PARAMETER.sub(lambda m: values.get(m.group(2), default_value(rule, m.group(2))),
                         rule.rule)
