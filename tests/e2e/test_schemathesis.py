"""Schemathesis against the live server (API guide §3, §10): whatever it derives from
`/openapi.json`, valid or not, no response is a 500 and every response conforms to the document
(status code, content type, body schema, documented headers); and no request the document calls
valid is refused with a 400 (`positive_data_acceptance`), save where a rule is beyond any schema
(`BEYOND_THE_SCHEMA`).

It runs the `schemathesis` CLI on the real gunicorn (`web`) with a real worker and the fake
GetImg. The CLI is schemathesis's most stable interface (its pytest loader for fixtures breaks
with pytest 9.2), and its report names, for every failure, the check that failed and a curl
command that reproduces the request; a failing test shows that report.

- `test_any_input`: every operation, coverage phase (boundary and invalid values of each
  parameter, missing token, other methods) then fuzzing (random values, valid and invalid).
  User routes carry the token of a user granted credits through the admin route; admin routes
  (`/api/admin/...`) an admin token (an `[[operations]]` override in the config).
- `test_real_resources`: the operations that need something real to get past their 400/404,
  fuzzed with `tests/support/schemathesis_hooks.py` planting, in some cases, real generation
  ids (a completed and a failed job), the user's image URL and its signed media URL, a real
  selfie; so generate, retry, status, stream, delete, upload and media reach their success
  paths and their 409s. A user of its own, so the per-user write limit (429) of the first run
  does not starve it.

Each test makes its own user and jobs: no dependence on other tests or their order. Bounded
for CI (about 40 s together on 2 cores): 25 examples per operation, no shrinking, a fixed seed,
one worker. To explore further, set `SCHEMATHESIS_SEED` and `SCHEMATHESIS_MAX_EXAMPLES` (the
per-user write limit, 30 a minute, then turns most writes into 429s);
`SCHEMATHESIS_REPORT_DIR=dir` keeps every request and response of the runs as HAR files.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import BIN, REPO_ROOT
from tests.support.assets import SELFIE
from tests.support.live import LiveServer, LiveUser
from tests.support.users import ADMIN

pytestmark = pytest.mark.usefixtures("ledger_invariant")  # and after it all, the books balance

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance",
          "positive_data_acceptance")
# What a request the document calls valid may still get (schemathesis's defaults, 2xx 3xx 401
# 403 404 409 429 5xx, plus): 402 credits run out, 410 a share link revoked, 412 and 416 the
# conditional and range headers, 415 an upload whose bytes are not an image. No 400: whatever
# the document accepts, the server must too.
ACCEPTED_STATUSES = ["2xx", "3xx", "401", "402", "403", "404", "409", "410", "412", "415", "416",
                     "429", "5xx"]
# The few rules no schema can state, so a 400 the document cannot foresee (each in the
# operation's description or its 400's): operation -> why.
BEYOND_THE_SCHEMA = {
    "getAnalytics": "`to` not before `from`, at most 366 days apart: two parameters together",
    "generateHeadshot": "imageUrl: its signature, expiry and owner; style: one on offer",
    "createBatch": "imageUrl: its signature, expiry and owner; styles: ones on offer",
    "exportHeadshot": "watermark: characters the font has, a text that fits the size asked",
    "listFailures": "`to` not before `from`; a cursor this list issued (it encodes a time)",
}
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20240601"))
RUN_TIMEOUT_SECONDS = 300
PLANTABLE = r"^/api/uploads$|^/api/headshots/generate$|\{generation_id\}|^/media/"


def _toml(value: Any) -> str:
    """Strings, numbers, booleans, lists and inline tables: JSON spells them as TOML does."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)


# Only CHECKS, each on; a valid request's accepted answers beside its check (one TOML table).
CHECKS_ON: dict[str, Any] = {
    "enabled": False,
    **{name: {"enabled": True} for name in CHECKS},
    "positive_data_acceptance": {"enabled": True, "expected-statuses": ACCEPTED_STATUSES},
}


def write_config(path: Path, *, user_headers: dict[str, str]) -> Path:
    lines = [
        f"seed = {SEED}",
        'suppress-health-check = ["all"]',
        # One worker: Hypothesis describing lambdas from several threads trips a CPython 3.11
        # `ast` bug ("AST constructor recursion depth mismatch") in schemathesis's coverage phase.
        "workers = 1",
        "request-timeout = 30",
        "max-stream-events = 5",
        f"headers = {_toml(user_headers)}",
        # The checks here, not with `--checks`: the command line's would override the
        # operations' own below.
        f"checks = {_toml(CHECKS_ON)}",
        "[output.sanitization]",
        "enabled = false",  # test tokens only: show whole requests in the report
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "no-shrink = true",
        'database = "none"',
        "[phases.examples]",
        "enabled = false",  # the document has no examples
        "[phases.stateful]",
        "enabled = false",
        "[[operations]]",
        'include-path-regex = "^/api/admin/"',
        f"headers = {_toml(ADMIN)}",
        # The status streams are documented as text (an OpenAPI 3.1 document cannot describe
        # their events), which schemathesis reads as the schema of each event. Their events'
        # data is checked against HeadshotStatus by tests/e2e/test_stream_resume.py.
        "[[operations]]",
        'include-operation-id-regex = "^streamHeadshotStatus"',
        "checks = { response_schema_conformance = { enabled = false } }",
    ]
    for operation_id in BEYOND_THE_SCHEMA:
        lines += ["[[operations]]", f"include-operation-id = {_toml(operation_id)}",
                  "[operations.checks.positive_data_acceptance]",
                  f"expected-statuses = {_toml([*ACCEPTED_STATUSES, '400'])}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def real_resources(user: LiveUser, getimg: Any) -> dict[str, Any]:
    """An upload, a completed job and a failed one (refunded, retryable) of the user."""
    image_url = user.upload()
    ids = []
    for outcome, status in (("ok", "completed"), ("policy", "failed")):
        getimg.configure(script=[outcome])  # policy: a permanent refusal, so it fails
        response = user.generate(image_url)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
        user.wait_for_status(ids[-1], (status,), timeout=30)
    getimg.reset()
    return {"generation_ids": ids, "image_url": image_url, "style": "corporate",
            "selfie": str(SELFIE)}


def run_schemathesis(web: str, tmp_path: Path, *, user_headers: dict[str, str],
                     args: tuple[str, ...] = (), real: dict[str, Any] | None = None) -> None:
    config = write_config(tmp_path / "schemathesis.toml", user_headers=user_headers)
    command = [str(BIN / "schemathesis"), "--config-file", str(config), "--no-color", "run",
               f"{web}/openapi.json", *args]
    if os.environ.get("SCHEMATHESIS_REPORT_DIR"):  # every request and response, as HAR
        command += ["--report", "har", "--report-dir", os.environ["SCHEMATHESIS_REPORT_DIR"]]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "120"}
    if real is not None:
        env.update(SCHEMATHESIS_HOOKS="tests.support.schemathesis_hooks",
                   SCHEMATHESIS_REAL=json.dumps(real))
    started = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_SECONDS, check=False)
    report = result.stdout + result.stderr
    print(report)  # the operations, phases and warnings: `pytest -rP` shows it on success too
    if result.returncode != 0:
        pytest.fail(f"schemathesis found problems (exit {result.returncode}, "
                    f"{time.monotonic() - started:.0f} s). Each failure below names the check "
                    f"that failed and a curl command that reproduces the request:\n\n{report}",
                    pytrace=False)


@pytest.fixture(autouse=True)
def flags_set_back(web: str) -> Iterator[None]:
    """Fuzzing the admin routes with an operator's token sets real feature flags (turning
    `batch` off, say); set every flag it touched back to its default, on for everyone, so the
    tests after this one see the service as it was."""
    yield
    server = LiveServer(web)
    listed = server.call("GET", "/api/admin/flags", user_id=server.operator_id, role="admin")
    assert listed.status_code == 200, listed.text
    for flag in listed.json()["data"]:
        if flag["updatedAt"] is not None:
            reset = server.call("PUT", f"/api/admin/flags/{flag['name']}",
                                user_id=server.operator_id, role="admin",
                                json={"enabled": True, "percentage": 100, "users": []})
            assert reset.status_code == 200, reset.text


def test_any_input(web: str, worker: Any, fake_getimg: Any, tmp_path: Path) -> None:
    user = LiveServer(web).user(credits=10_000)
    run_schemathesis(web, tmp_path, user_headers=user.headers)


def test_real_resources(web: str, worker: Any, fake_getimg: Any, tmp_path: Path) -> None:
    user = LiveServer(web).user(credits=10_000)
    real = real_resources(user, fake_getimg)
    run_schemathesis(web, tmp_path, user_headers=user.headers, real=real,
                     args=("--phases", "fuzzing", "--include-path-regex", PLANTABLE))
