"""The `web` process under load: `/healthz` and the status poll with wrk (64 connections, 10 s,
median of 3), then the poll's latency with 0 and with 300 status streams open.

    ./run bench web_server                    # needs wrk (apt-get install wrk)
    ./run bench web_server --against-gthread  # the wrk part for gthread (2 x 8) too, interleaved

wrk runs on the same 2 cores as the server, so the figures compare runs on one machine, they
are no capacity figure; on a machine others load too, compare only runs made together.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BENCH_SECRET, WrkResult, bench_stack, median_and_range, wrk  # noqa: E402
from devstack.processes import REPO_ROOT, free_port, wait_for_web, web_service  # noqa: E402

RUNS = 3
# gunicorn arguments on top of the Procfile's line: each worker class measured.
WORKER_CLASSES = {"gevent (config/web_worker.py)": [],
                  "gthread 2 x 8 (before)": ["--worker-class", "gthread", "--threads", "8"]}
STREAMS = 300
STREAMS_PER_USER = 5


def bearer(user_id: int, role: str | None = None) -> dict[str, str]:
    claims: dict[str, object] = {"sub": str(user_id), "exp": int(time.time()) + 3600}
    if role:
        claims["role"] = role
    return {"Authorization": f"Bearer {jwt.encode(claims, BENCH_SECRET)}"}


def queued_job(base: str, user_id: int) -> int:
    """A job of `user_id` that stays queued (no worker runs), so its streams stay open."""
    requests.post(f"{base}/api/admin/users/{user_id}/credits", headers=bearer(1, "admin"),
                  json={"amount": 5, "reason": "bench"}, timeout=10).raise_for_status()
    with (REPO_ROOT / "assets" / "sample-selfie.jpg").open("rb") as selfie:
        image_url = requests.post(f"{base}/api/uploads", files={"image": selfie},
                                  headers=bearer(user_id), timeout=10).json()["imageUrl"]
    response = requests.post(f"{base}/api/headshots/generate", headers=bearer(user_id),
                             json={"imageUrl": image_url, "style": "corporate"}, timeout=10)
    response.raise_for_status()
    return int(response.json()["id"])


def open_stream(port: int, user_id: int, job_id: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"GET /api/headshots/status/{job_id}/stream HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: {bearer(user_id)['Authorization']}\r\n\r\n")
    sock.sendall(head.encode())
    first = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    return sock


def poll_latencies(base: str, user_id: int, job_id: int, count: int = 200) -> list[float]:
    http = requests.Session()
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        http.get(f"{base}/api/headshots/status/{job_id}", headers=bearer(user_id),
                 timeout=30).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms"


def print_figures(label: str, results: dict[str, list[WrkResult]]) -> None:
    print(f"{label}: wrk -t2 -c64 -d10s, {RUNS} runs, median (range)")
    print(f"  {'route':30} {'req/s':>20} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, runs in results.items():
        rps = [r.requests_per_second for r in runs]
        print(f"  {name:30} {median_and_range(rps):>20} "
              f"{statistics.median(r.p50_ms for r in runs):8.2f} "
              f"{statistics.median(r.p99_ms for r in runs):8.2f} "
              f"{sum(r.errors for r in runs):6d}")


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    classes = dict(WORKER_CLASSES) if "--against-gthread" in sys.argv else {
        name: argv for name, argv in WORKER_CLASSES.items() if not argv}
    with bench_stack() as stack:
        servers = {}
        for index, (name, extra) in enumerate(classes.items()):
            port = stack.web_port if index == 0 else free_port()
            web = web_service(port, stack.run_dir, name=f"web-{index}", env={"PORT": str(port)})
            web.argv += extra
            servers[name] = (web.start(), f"http://127.0.0.1:{port}")
        streams: list[socket.socket] = []
        try:
            for web, base in servers.values():
                wait_for_web(web, base)
            main_base = f"http://127.0.0.1:{stack.web_port}"
            job_id = queued_job(main_base, 42)
            targets = {"/healthz": ("/healthz", {}),
                       "/api/headshots/status/{id}": (f"/api/headshots/status/{job_id}",
                                                      bearer(42))}
            results: dict[str, dict[str, list[WrkResult]]] = {}
            for _, base in servers.values():
                wrk(f"{base}/healthz", seconds=2)  # warm-up
            for _ in range(RUNS):  # interleaved, so drift on a shared machine hits all alike
                for name, (_, base) in servers.items():
                    for route, figures in wrk_figures_once(base, targets).items():
                        results.setdefault(name, {}).setdefault(route, []).append(figures)
            for name, figures_by_route in results.items():
                print_figures(name, figures_by_route)
            print("status poll, one client, 200 polls, with 0 streams open: "
                  f"{percentiles(poll_latencies(main_base, 42, job_id))}")
            for user_id in range(1000, 1000 + STREAMS // STREAMS_PER_USER):
                user_job = queued_job(main_base, user_id)
                streams += [open_stream(stack.web_port, user_id, user_job)
                            for _ in range(STREAMS_PER_USER)]
            print(f"status poll, one client, 200 polls, with {len(streams)} streams open: "
                  f"{percentiles(poll_latencies(main_base, 42, job_id))}")
        finally:
            for sock in streams:
                sock.close()
            for web, _ in servers.values():
                web.stop()


def wrk_figures_once(base: str, targets: dict[str, tuple[str, dict[str, str]]]
                     ) -> dict[str, WrkResult]:
    return {name: wrk(base + path, seconds=10, connections=64, headers=headers)
            for name, (path, headers) in targets.items()}


if __name__ == "__main__":
    main()
