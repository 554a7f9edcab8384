"""Turning a Flask request into a validated request model (400 with the field named)."""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from api.errors import ApiError
from models.idempotency import MAX_KEY_LENGTH, IdempotentRequest

IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")

Model = TypeVar("Model", bound=BaseModel)


# Every request model is an object of a few fields, at most a list or a flat object inside:
# deeper nesting and more keys are no request the service knows, refused before validation.
MAX_JSON_DEPTH = 8
MAX_JSON_KEYS = 256  # in the whole body
# What a JSON number may be to reach PostgreSQL (a BIGINT, or JSONB, which has no Infinity
# and whose numbers the app's clients read as doubles): a 64-bit integer, a finite double.
INT_RANGE = range(-(2**63), 2**63)
INT_DIGITS = 19  # longer (sign aside) is out of INT_RANGE: no need to convert it to know

OPENERS, CLOSERS = b"[{", b"]}"
STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class _BadJson(ValueError):
    """A body that is JSON in form but that the service refuses: the message names why."""


class _Unstorable:
    """A value the parser read that PostgreSQL cannot store: NaN and Infinity (Python's json
    takes them, JSON does not), Infinity from an overflowing exponent (`1e309`), an integer
    past 64 bits. Kept in place so that the refusal can name the field holding it."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text if len(text) <= 24 else text[:20] + "..."
        self.why = why


def _constant(name: str) -> _Unstorable:
    return _Unstorable(name, "is not a JSON value")


def _integer(text: str) -> int | _Unstorable:
    if len(text.lstrip("-")) > INT_DIGITS or int(text) not in INT_RANGE:
        return _Unstorable(text, "is out of range: integers fit in 64 bits")
    return int(text)


def _finite(text: str) -> float | _Unstorable:
    value = float(text)
    if not math.isfinite(value):
        return _Unstorable(text, "is out of range: numbers are finite doubles")
    return value


def _check_depth(raw: bytes) -> None:
    """Refuse nesting past MAX_JSON_DEPTH before parsing (strings skipped, brackets counted):
    the parser itself would recurse as deep as the body goes."""
    depth = 0
    for match in STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token[0] in OPENERS:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _BadJson(f"body: nested deeper than {MAX_JSON_DEPTH} levels")
        elif token[0] in CLOSERS:
            depth -= 1


def _check_values(value: Any, where: str = "body") -> None:
    """Refuse what JSON allows but the service cannot store, naming the field that holds it
    (e.g. `properties.a`): unpaired surrogates, NaN, numbers out of range."""
    if isinstance(value, _Unstorable):
        raise _BadJson(f"{where}: {value.text} {value.why}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadJson(f"{where}: holds an unpaired surrogate, which is not Unicode") \
                from None
    elif isinstance(value, dict):
        for key, item in value.items():
            field = key if where == "body" else f"{where}.{key}"
            _check_values(key, field)
            _check_values(item, field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{where}.{index}")


class _Objects:
    """`object_pairs_hook`: refuses `{"a": 1, "a": 2}` (a proxy may read the first, we the
    last) and more than MAX_JSON_KEYS keys in the body."""

    def __init__(self) -> None:
        self.keys = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.keys += len(pairs)
        if self.keys > MAX_JSON_KEYS:
            raise _BadJson(f"body: more than {MAX_JSON_KEYS} keys")
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise _BadJson(f"{key}: given more than once")
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
        raw = request.get_data()
        try:
            _check_depth(raw)
            payload = json.loads(raw, object_pairs_hook=_Objects(), parse_int=_integer,
                                 parse_float=_finite, parse_constant=_constant)
            _check_values(payload)
        except _BadJson as refused:
            raise ApiError(400, "invalid_request", str(refused)) from None
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
