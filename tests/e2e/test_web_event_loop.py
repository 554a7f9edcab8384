"""Pillow's work in the web process runs off its gevent hub (media/off_loop.py): while one
request encodes an image, the process's other connections are still served.

A Python process patched by gevent as gunicorn's worker patches it; a greenlet ticks every
millisecond while the main one encodes a large JPEG, directly or through `off_the_event_loop`.
"""

from __future__ import annotations

import subprocess
import sys

from devstack.processes import REPO_ROOT

SCRIPT = """
from gevent import monkey
monkey.patch_all()
import io, sys
import gevent
from PIL import Image
from media.off_loop import off_the_event_loop

ticks = []

def ticker():
    while True:
        ticks.append(1)
        gevent.sleep(0.001)

def encode():
    image = Image.effect_noise((2500, 2500), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.tell()

def fail():
    raise ValueError("not an image")

gevent.spawn(ticker)
gevent.sleep(0.01)
before = len(ticks)
size = encode() if sys.argv[1] == "direct" else off_the_event_loop(encode)
during = len(ticks) - before
try:
    off_the_event_loop(fail)
    raised = "nothing"
except ValueError as error:
    raised = str(error)
print(during, size, raised)
"""


def run(mode: str) -> tuple[int, int, str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split(" ", 2)
    return int(out[0]), int(out[1]), out[2].strip()


def test_the_hub_serves_others_while_pillow_works_off_it() -> None:
    ticks_direct, size_direct, _ = run("direct")
    ticks_off, size_off, raised = run("off")
    assert ticks_direct == 0  # a direct encode holds the hub: nobody else ran
    assert ticks_off > 0  # off the loop, the ticker went on while the JPEG was encoded
    assert size_off > 100_000 and size_direct > 100_000
    assert raised == "not an image"  # the work's exception reaches the caller


WORK_PROCESS_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import io, os, sys
import gevent
from PIL import Image
from media.images import ImageRejected, sanitize_upload
from media.work_processes import WorkProcessLost, in_a_work_process
from tests.support.camera_files import heic

ticks = []

def ticker():
    while True:
        ticks.append(1)
        gevent.sleep(0.001)

buffer = io.BytesIO()
Image.effect_noise((2000, 2000), 60).convert("RGB").save(buffer, "WEBP", quality=90)
gevent.spawn(ticker)
gevent.sleep(0.01)
before = len(ticks)
clean = in_a_work_process(sanitize_upload, buffer.getvalue())
during = len(ticks) - before
child = in_a_work_process(os.getpid)
# The child, a fresh interpreter, reads HEIC too (media/images.py registers pillow-heif).
from_heic = in_a_work_process(sanitize_upload, heic()).content_type
try:
    in_a_work_process(sanitize_upload, b"GIF89a" + bytes(100))
    refused = "nothing"
except ImageRejected as error:
    refused = error.code
try:
    in_a_work_process(os._exit, 3)
    lost = "nothing"
except WorkProcessLost:
    lost = "lost"
after = in_a_work_process(os.getpid)
print(during, clean.width, child != os.getpid(), refused, lost, after not in (child, os.getpid()),
      from_heic)
"""


def test_uploads_are_checked_in_a_child_process_the_hub_keeps_serving() -> None:
    """`in_a_work_process` under gevent: the work runs in another process (the ticker goes on),
    its exceptions come back as themselves, and a child that dies is replaced."""
    out = subprocess.run([sys.executable, "-c", WORK_PROCESS_SCRIPT], cwd=REPO_ROOT,
                         check=True, capture_output=True, text=True, timeout=120).stdout.split()
    ticks, width, elsewhere, refused, lost, replaced, from_heic = out
    assert int(ticks) > 0
    assert width == "2000"
    assert elsewhere == "True"
    assert refused == "unsupported_media_type"
    assert lost == "lost"
    assert replaced == "True"
    assert from_heic == "image/jpeg"
