"""A client generated from the live `/openapi.json` walks the whole journey (API guide §12).

As a new mobile developer would: `openapi-python-client` makes a client from the document the
running server (gunicorn, a real worker, the fake GetImg) serves, with the generator config of
`docs/clients/openapi-python-client.yaml`, and nothing else. The generator must not warn (a
warning means a route or answer it skipped), and the client, imported as generated, walks
every step through its own functions, with `raise_on_unexpected_status` on so an answer the
document does not list fails the test: styles, upload, generate, poll, history, favorites,
batch and its ZIP, share and unshare, export, cancel, retry, delete, and deleting one's data;
the completion webhooks those steps set off must match the document's `webhooks` and load into
the generated models. Only the status stream is left out (its events are read by an
`EventSource`, not a generated function). `pytest -s` prints the generator's output and the
journey's transcript.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from devstack.processes import BIN, REPO_ROOT
from devstack.waiting import wait_until
from fakes.webhook_receiver import WebhookReceiver
from tests.support.assets import SELFIE
from tests.support.live import LiveServer
from tests.support.session import STORAGE_BACKEND

pytestmark = pytest.mark.usefixtures("ledger_invariant")

CONFIG = REPO_ROOT / "docs" / "clients" / "openapi-python-client.yaml"
PACKAGE = "headshots_api_client"  # the generator's name for the document's title
GENERATOR_TIMEOUT_SECONDS = 180


def generate_client(web: str, where: Path) -> tuple[str, Path]:
    """Generate the client from the served document into `where`; returns the generator's
    output and the folder to put on `sys.path`."""
    document = where / "openapi.json"
    document.write_bytes(requests.get(f"{web}/openapi.json", timeout=30).content)
    command = [str(BIN / "openapi-python-client"), "generate", "--path", str(document),
               "--config", str(CONFIG), "--meta", "none",
               "--output-path", str(where / PACKAGE)]
    # Its post-hooks run `ruff` (ours, from the same venv) over the output: no network.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(command, cwd=where, env=env, capture_output=True, text=True,
                            timeout=GENERATOR_TIMEOUT_SECONDS, check=False)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    return output, where


@pytest.fixture(scope="module")
def generated(web: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, ModuleType]]:
    """Generated once for the module's tests (a few seconds: the generator, then ruff)."""
    output, folder = generate_client(web, tmp_path_factory.mktemp("generated"))
    sys.path.insert(0, str(folder))
    try:
        yield output, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_generator_does_not_warn(generated: tuple[str, ModuleType]) -> None:
    output, _ = generated
    print(f"\n---- openapi-python-client's output ----\n{output}\n")
    lowered = output.lower()
    assert "warning" not in lowered and "unsupported" not in lowered \
        and "error" not in lowered, output
    assert all(line.startswith("Generating ") for line in output.splitlines()), output


class Journey:
    """The generated client's modules, a signed-in client, and a transcript of each call."""

    def __init__(self, web: str, token: str) -> None:
        self.client = importlib.import_module(PACKAGE).AuthenticatedClient(
            base_url=web, token=token, raise_on_unexpected_status=True, timeout=30.0)
        self.transcript: list[str] = []

    def api(self, tag: str, operation: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{PACKAGE}.models"), name)

    def call(self, tag: str, operation: str, expected: int, *args: Any, note: str = "",
             **kwargs: Any) -> Any:
        """One call through the generated function; the answer must be `expected`."""
        response = self.api(tag, operation).sync_detailed(*args, client=self.client, **kwargs)
        status = int(response.status_code)
        self.transcript.append(f"{operation:<22} -> {status} {note}".rstrip())
        assert status == expected, (operation, status, response.content[:300])
        return response

    def until(self, what: str, check: Callable[[], Any]) -> Any:
        return wait_until(check, timeout=60, interval=0.2, message=what)


def _filename(response: Any) -> str:
    disposition = response.headers["Content-Disposition"]
    assert "filename=" in disposition, disposition
    return str(disposition.split("filename=", 1)[1].strip('"'))


WEBHOOK_MODELS = {"headshot": "HeadshotEvent", "batch": "BatchEvent"}
EXPECTED_WEBHOOKS = {"headshot.completed", "headshot.failed", "headshot.cancelled",
                     "batch.completed"}


def webhooks_of(receiver: WebhookReceiver, user_id: int, web: str, j: Journey) -> set[str]:
    """Waits for the user's webhooks of the journey; each payload must be valid against the
    document's `webhooks` schema and load into the generated model. Returns their types."""
    def arrived() -> list[dict[str, Any]] | None:
        mine = [payload for payload in receiver.delivered().values()
                if payload["data"]["userId"] == user_id]
        return mine if {payload["type"] for payload in mine} >= EXPECTED_WEBHOOKS else None
    payloads: list[dict[str, Any]] = j.until("the journey's webhooks", arrived)
    document = requests.get(f"{web}/openapi.json", timeout=30).json()
    for payload in payloads:
        operation = document["webhooks"][payload["type"]]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": document["components"]},
                                         format_checker=FormatChecker())
        errors = [f"{list(error.path)}: {error.message}"
                  for error in validator.iter_errors(payload)]
        assert not errors, (payload["type"], errors)
        model = j.model(WEBHOOK_MODELS[payload["type"].split(".")[0]])
        assert model.from_dict(payload).type_.value == payload["type"]  # `type_`: a builtin
    return {payload["type"] for payload in payloads}


def test_a_generated_client_walks_the_whole_journey(
    web: str, worker: Any, fake_getimg: Any, webhooks: WebhookReceiver,
    generated: tuple[str, ModuleType]
) -> None:
    server = LiveServer(web)
    user = server.user(credits=50)
    token = user.headers["Authorization"].split(" ", 1)[1]
    j = Journey(web, token)
    AspectRatio, JobStatus = j.model("AspectRatio"), j.model("JobStatus")
    File = importlib.import_module(f"{PACKAGE}.types").File

    styles = j.call("headshots", "list_styles", 200).parsed
    style_ids = [style.id for style in styles.data]
    assert len(style_ids) >= 2, style_ids
    j.transcript[-1] += f" styles: {', '.join(style_ids)}"

    with SELFIE.open("rb") as selfie:
        body = j.model("CreateUploadBody")(image=File(payload=selfie, file_name=SELFIE.name,
                                                      mime_type="image/jpeg"))
        upload = j.call("uploads", "create_upload", 201, body=body).parsed
    image_url = upload.image_url

    def generate(style: str, ratio: Any = AspectRatio.RATIO_1_1) -> Any:
        request = j.model("GenerateRequest")(image_url=image_url, style=style,
                                             aspect_ratio=ratio)
        return j.call("headshots", "generate_headshot", 202, body=request,
                      note=f"{style} {ratio.value}").parsed

    def status_of(generation_id: int, wanted: Any) -> Any:
        def reached() -> Any:
            answer = j.api("headshots", "get_headshot_status").sync_detailed(
                generation_id, client=j.client).parsed
            return answer if answer.status == wanted else None
        found = j.until(f"headshot {generation_id} {wanted.value}", reached)
        j.transcript.append(f"{'get_headshot_status':<22} -> 200 polled to {wanted.value}")
        return found

    # generate, with a named aspect ratio: RATIO_4_5 is 4:5 on the wire and back
    job = generate(style_ids[0], AspectRatio.RATIO_4_5)
    assert job.aspect_ratio == AspectRatio.RATIO_4_5 and job.aspect_ratio.value == "4:5"
    done = status_of(job.id, JobStatus.COMPLETED)
    assert done.progress == 100 and done.result_urls

    page = j.call("headshots", "list_headshots", 200).parsed
    assert [item.id for item in page.data] == [job.id]
    assert j.call("headshots", "get_headshot", 200, job.id).parsed.aspect_ratio.value == "4:5"

    # favorites
    assert j.call("headshots", "add_favorite", 200, job.id).parsed.is_favorite is True
    favorites = j.call("headshots", "list_favorites", 200).parsed
    assert [item.id for item in favorites.data] == [job.id]
    assert j.call("headshots", "remove_favorite", 200, job.id).parsed.is_favorite is False
    assert j.call("headshots", "list_favorites", 200).parsed.data == []

    # a batch, its status, its ZIP (binary, named)
    batch_request = j.model("BatchRequest")(image_url=image_url, styles=style_ids[:2],
                                            aspect_ratio=AspectRatio.RATIO_9_16)
    batch = j.call("headshots", "create_batch", 202, body=batch_request).parsed
    batch_status = j.model("BatchStatus")

    def batch_done() -> Any:
        answer = j.api("headshots", "get_batch").sync_detailed(batch.batch_id,
                                                               client=j.client).parsed
        return answer if answer.status == batch_status.COMPLETED else None
    j.until("the batch completed", batch_done)
    j.call("headshots", "get_batch", 200, batch.batch_id, note="completed")
    archive = j.call("headshots", "download_batch", 200, batch.batch_id)
    assert isinstance(archive.parsed, File)
    names = zipfile.ZipFile(io.BytesIO(archive.parsed.payload.read())).namelist()
    assert len(names) == 2, names
    assert _filename(archive) == f"headshots-{batch.batch_id}.zip"
    j.transcript[-1] += f" {_filename(archive)}: {', '.join(names)}"

    # share, open the public image, unshare
    share_request = j.model("ShareRequest")(expires_in_hours=1)
    share = j.call("headshots", "share_headshot", 201, job.id, body=share_request).parsed
    share_token = urlsplit(share.share_url).path.rsplit("/", 1)[1]
    if STORAGE_BACKEND == "s3":  # the store serves the bytes: a redirect to its presigned URL
        j.call("sharing", "get_shared_image", 302, share_token)
    else:
        image = j.call("sharing", "get_shared_image", 200, share_token)
        assert image.parsed.payload.read()[:3] == b"\xff\xd8\xff"  # a JPEG, as generated
        assert _filename(image).startswith(f"headshot-{style_ids[0]}.")
        j.transcript[-1] += f" {_filename(image)}"
    j.call("headshots", "unshare_headshot", 204, job.id)
    j.call("sharing", "get_shared_image", 410, share_token, note="revoked")

    # export: binary, named
    export_format = j.model("ExportHeadshotFormat")
    exported = j.call("headshots", "export_headshot", 200, job.id, format_=export_format.PNG,
                      size=256)
    assert exported.parsed.payload.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _filename(exported).endswith(".png")
    j.transcript[-1] += f" {_filename(exported)}"

    # cancel a second job while GetImg is slow
    fake_getimg.configure(latency_ms=20_000)
    slow = generate(style_ids[1])
    cancelled = j.call("headshots", "cancel_headshot", 200, slow.id).parsed
    assert cancelled.status == JobStatus.FAILED and cancelled.error.code == "cancelled"
    fake_getimg.reset()

    # retry a failed one
    fake_getimg.configure(script=["policy"])  # a permanent refusal: the job fails
    failing = generate(style_ids[0])
    status_of(failing.id, JobStatus.FAILED)
    retried = j.call("headshots", "retry_headshot", 202, failing.id).parsed
    assert retried.retry_count == 1
    status_of(failing.id, JobStatus.COMPLETED)

    # the completion webhooks of it all, as the document's `webhooks` describe them
    received = webhooks_of(webhooks, user.user_id, web, j)
    j.transcript.append(f"{'webhooks received':<22} -> {', '.join(sorted(received))}")

    # delete one, then all of one's data
    j.call("headshots", "delete_headshot", 204, job.id)
    j.call("headshots", "get_headshot", 404, job.id, note="deleted")
    j.call("credits_", "delete_my_data", 204)
    me = j.call("credits_", "get_me", 200).parsed
    j.transcript[-1] += f" credits left: {me.credits_}"  # `credits_`: a Python builtin

    print("\n---- the journey, through the generated client ----\n" + "\n".join(j.transcript))
