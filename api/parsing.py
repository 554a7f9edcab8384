"""Turning a Flask request into a validated request model (400 with the field named)."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from api.errors import ApiError
from models.idempotency import MAX_KEY_LENGTH, IdempotentRequest

IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")

Model = TypeVar("Model", bound=BaseModel)


class _DuplicateKey(ValueError):
    pass


class _NotJson(ValueError):
    """NaN, Infinity or an unpaired surrogate: Python's json takes them, JSON (and PostgreSQL's
    JSONB) does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"body: {name} is not a JSON value")


def _check_text(value: Any, where: str = "body") -> None:
    """Refuse unpaired surrogates, naming the field that holds one (e.g. `style`)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _NotJson(f"{where}: holds an unpaired surrogate, which is not Unicode") \
                from None
    elif isinstance(value, dict):
        for key, item in value.items():
            field = key if where == "body" else f"{where}.{key}"
            _check_text(key, field)
            _check_text(item, field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}.{index}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` refusing `{"a": 1, "a": 2}` (a proxy may read the first, we the last)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def body_required(model: type[BaseModel]) -> bool:
    """Whether the body must be sent: a model whose fields all have defaults takes none."""
    return any(field.is_required() for field in model.model_fields.values())


def json_body(model: type[Model]) -> Model:
    if not request.get_data() and not body_required(model):
        return model.model_validate({})  # no body at all: every field takes its default
    payload = None
    if request.is_json:
        try:
            payload = json.loads(request.get_data(), object_pairs_hook=_unique_keys,
                                 parse_constant=_refuse_constant)
            _check_text(payload)
        except _DuplicateKey as duplicate:
            raise ApiError(400, "invalid_request", f"{duplicate}: given more than once") from None
        except _NotJson as not_json:
            raise ApiError(400, "invalid_request", str(not_json)) from None
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            payload = None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "body: expected a JSON object")
    return model.model_validate(payload)


def query_args(model: type[Model]) -> Model:
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:  # never silently pick one of `limit=5&limit=500`
        raise ApiError(400, "invalid_request", f"{repeated[0]}: given more than once")
    return model.model_validate(request.args.to_dict())


def idempotency(operation: str, body: Any) -> IdempotentRequest | None:
    """The request's `Idempotency-Key`, bound to what it asks for, if it sent one."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise ApiError(400, "invalid_request",
                       f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return IdempotentRequest.of(key, operation=operation, body=body)
