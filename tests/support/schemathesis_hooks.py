"""Schemathesis hooks for `tests/e2e/test_schemathesis.py::test_real_resources` (loaded by the
CLI through `SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks`; not a test module).

Random ids and URLs only ever reach the 400/404 paths. These hooks let Hypothesis swap in, in
some of the cases it draws, a real thing of the test user's: a generation id (a completed job and
a failed one, so status, stream, delete and retry answer their successes and their 409s), its
uploaded image URL with a real style (so generate charges and queues) and its signed media URL
(so `/media/...` serves the image), a real selfie (so uploads store one). The values come from
the environment the test sets (`SCHEMATHESIS_REAL`, JSON); without it the hooks change nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import schemathesis
from hypothesis import strategies as st

REAL: dict[str, Any] = json.loads(os.environ.get("SCHEMATHESIS_REAL", "{}"))
SELFIE = Path(REAL["selfie"]).read_bytes() if REAL.get("selfie") else b""


def _path(context: Any) -> str:
    return str(getattr(getattr(context, "operation", None), "path", ""))


def _signed_media() -> tuple[str, dict[str, str]] | None:
    """The storage key and the `exp`/`sig` query of the user's signed image URL."""
    if not REAL.get("image_url"):
        return None
    parts = urlsplit(REAL["image_url"])
    return parts.path.removeprefix("/media/"), dict(parse_qsl(parts.query))


MEDIA = _signed_media()


@schemathesis.hook
def flatmap_case(context: Any, case: Any) -> Any:
    """`GET /media/{storage_key}`: the real key with its real signature, so it serves the image."""
    if MEDIA is None or _path(context) != "/media/{storage_key}":
        return st.just(case)

    def planted(plant: bool) -> Any:
        if plant:
            case.path_parameters = {**(case.path_parameters or {}), "storage_key": MEDIA[0]}
            case.query = {**(case.query or {}), **MEDIA[1]}
        return case

    return st.booleans().map(planted)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    ids = REAL.get("generation_ids") or []
    if not ids or not isinstance(path_parameters, dict) or "generation_id" not in path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([None, *ids]).map(
        lambda real: path_parameters if real is None
        else {**path_parameters, "generation_id": real})


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    path = _path(context)
    if not isinstance(body, dict):
        return st.just(body)
    if path == "/api/uploads" and SELFIE:
        return st.sampled_from([body, {**body, "image": SELFIE}])
    if path == "/api/headshots/generate" and REAL.get("image_url"):
        real = {**body, "imageUrl": REAL["image_url"], "style": REAL["style"]}
        return st.sampled_from([body, real])
    return st.just(body)
