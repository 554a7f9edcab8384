"""What a few signed-in users can cost everyone else (issue 21): /healthz and /api/me latency,
measured by one polite client, while abusive clients send what the service refuses or what
costs it the most it accepts.

Scenarios, each for SECONDS, one after another on the same stack (per run, interleaved):

- quiet: nobody else (the baseline of every row);
- 8 MB events: two clients posting 8 MB JSON bodies to /api/events, back to back;
- 300k keys: two clients posting 3.5 MB objects of 300,000 keys to /api/events;
- uploads at the limit: six clients uploading a 6300x6300 WebP (under the 40 Mpx budget: it is
  checked, re-encoded and previewed) to /api/uploads, back to back.

The polite client calls /healthz and /api/me in turn, each on a kept connection, 20 ms apart;
p50 and p99 of each, in ms. Target (the issue's acceptance): p99 under a second with the
abusers at work. The abusers' answers are counted (a refused body's connection is closed by
the server: the client sees its 413, or a broken pipe if it was still sending).
"""

from __future__ import annotations

import io
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from bench.accounts import BenchUser, make_users
from bench.harness import bench_stack
from bench.table import Row

SECONDS = 15
PROBE_INTERVAL = 0.02
TARGET_MS = 1000


def eight_megabyte_event() -> bytes:
    return json.dumps({"event": "style_selected", "pad": [0] * (8 * 1024 * 1024 // 3)}).encode()


def many_keys_event() -> bytes:
    return json.dumps({"event": "style_selected",
                       "properties": {f"k{i}": 1 for i in range(300_000)}},
                      separators=(",", ":")).encode()


def webp_at_the_limit() -> bytes:
    from PIL import Image

    image = Image.linear_gradient("L").resize((6300, 6300)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=50, method=0)
    return buffer.getvalue()


@dataclass
class Abuse:
    name: str
    clients: int
    send: Callable[[requests.Session, BenchUser], int]  # one request; its status


@dataclass
class Probed:
    healthz_ms: list[float] = field(default_factory=list)
    me_ms: list[float] = field(default_factory=list)
    abuser_answers: Counter[str] = field(default_factory=Counter)


def _abuses(base: str) -> list[Abuse]:
    big, keys, image = eight_megabyte_event(), many_keys_event(), webp_at_the_limit()
    print(f"    bodies: 8 MB event {len(big)} B, 300k keys {len(keys)} B, "
          f"WebP 6300x6300 {len(image)} B", flush=True)

    def post_json(raw: bytes) -> Callable[[requests.Session, BenchUser], int]:
        def send(http: requests.Session, user: BenchUser) -> int:
            return http.post(f"{base}/api/events", data=raw, timeout=60,
                             headers={**user.headers, "Content-Type": "application/json"}
                             ).status_code
        return send

    def upload(http: requests.Session, user: BenchUser) -> int:
        return http.post(f"{base}/api/uploads", headers=user.headers, timeout=120,
                         files={"image": ("big.webp", image, "image/webp")}).status_code

    return [Abuse("quiet", 0, upload), Abuse("8 MB events", 2, post_json(big)),
            Abuse("300k keys", 2, post_json(keys)), Abuse("uploads at the limit", 6, upload)]


def _abuser(abuse: Abuse, user: BenchUser, stop: threading.Event, answers: Counter[str]
            ) -> None:
    while not stop.is_set():
        with requests.Session() as http:  # a refused body's connection is closed: a new one
            try:
                answers[str(abuse.send(http, user))] += 1
            except requests.RequestException as error:
                answers[type(error).__name__] += 1


def _probe(base: str, user: BenchUser, seconds: float, probed: Probed) -> None:
    deadline = time.monotonic() + seconds
    with requests.Session() as health, requests.Session() as account:
        while time.monotonic() < deadline:
            for http, path, into in ((health, "/healthz", probed.healthz_ms),
                                     (account, "/api/me", probed.me_ms)):
                began = time.perf_counter()
                answer = http.get(base + path, headers=user.headers, timeout=60)
                into.append((time.perf_counter() - began) * 1000)
                if answer.status_code != 200:
                    probed.abuser_answers[f"probe {path} {answer.status_code}"] += 1
                time.sleep(PROBE_INTERVAL)


def _measure(base: str, abuse: Abuse, users: list[BenchUser], prober: BenchUser) -> Probed:
    probed = Probed()
    stop = threading.Event()
    abusers = [threading.Thread(target=_abuser, args=(abuse, users[i], stop,
                                                      probed.abuser_answers), daemon=True)
               for i in range(abuse.clients)]
    for thread in abusers:
        thread.start()
    time.sleep(1 if abusers else 0)  # the abusers at work before the first probe
    _probe(base, prober, SECONDS, probed)
    stop.set()
    for thread in abusers:
        thread.join(timeout=180)
    return probed


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(runs: int) -> list[Row]:
    with bench_stack("abuse") as stack:
        users = make_users(stack.web_url, 7)
        prober, abusers = users[0], users[1:]
        abuses = _abuses(stack.web_url)
        results: dict[str, list[Probed]] = {abuse.name: [] for abuse in abuses}
        for _ in range(runs):
            for abuse in abuses:
                probed = _measure(stack.web_url, abuse, abusers, prober)
                results[abuse.name].append(probed)
                print(f"    {abuse.name}: /healthz p99 "
                      f"{_percentile(probed.healthz_ms, 0.99):.0f} ms, /api/me p99 "
                      f"{_percentile(probed.me_ms, 0.99):.0f} ms; "
                      f"{dict(probed.abuser_answers)}", flush=True)
    rows = []
    quiet = results["quiet"]
    for abuse in abuses:
        probes = results[abuse.name]
        answers = sum((probed.abuser_answers for probed in probes), Counter())
        label = abuse.name if abuse.clients == 0 else f"{abuse.name} ({abuse.clients} clients)"
        for path, of in (("/healthz", lambda p: p.healthz_ms), ("/api/me", lambda p: p.me_ms)):
            p50 = [statistics.median(of(probed)) for probed in probes]
            p99 = [_percentile(of(probed), 0.99) for probed in probes]
            quiet_p50 = [statistics.median(of(probed)) for probed in quiet]
            quiet_p99 = [_percentile(of(probed), 0.99) for probed in quiet]
            rows.append(Row(f"{path}, {label}", "p50", p50, "ms", "quiet", quiet_p50))
            rows.append(Row(f"{path}, {label}", "p99", p99, "ms", "quiet", quiet_p99,
                            f"< {TARGET_MS} ms", max(p99) < TARGET_MS))
        if abuse.clients:
            rows.append(Row(f"{label}: abusers' answers", ", ".join(
                f"{name} {count}" for name, count in sorted(answers.items())),
                [sum(answers.values()) / len(probes)], "per run"))
    return rows
