"""How cheap is the status poll? `GET /api/headshots/status/{id}` against baselines on the same
gunicorn server, in the same run: `/healthz` (a bare route: no auth, no I/O) and
`GET /api/headshots/history/{id}` (the same job read from PostgreSQL).

    ./run bench status_endpoint        # needs wrk (apt-get install wrk)

Prints req/s (median of 3 runs of 5 s, range in brackets), p50/p99 latency and the ratio to
/healthz. wrk runs on the same 2 cores as the server, as in shared/bench-anchors.md.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BENCH_SECRET, WrkResult, bench_stack, median_and_range, wrk  # noqa: E402
from devstack.processes import (  # noqa: E402
    REPO_ROOT,
    wait_for_web,
    web_service,
    worker_service,
)
from devstack.waiting import wait_until  # noqa: E402

RUNS = 3


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    with bench_stack() as stack:
        web = web_service(stack.web_port, stack.run_dir).start()
        worker = worker_service("worker", stack.run_dir).start()
        base = f"http://127.0.0.1:{stack.web_port}"
        try:
            wait_for_web(web, base)
            token = jwt.encode({"sub": "42", "exp": int(time.time()) + 3600}, BENCH_SECRET)
            admin = jwt.encode({"sub": "1", "role": "admin", "exp": int(time.time()) + 3600},
                               BENCH_SECRET)
            user = {"Authorization": f"Bearer {token}"}
            requests.post(f"{base}/api/admin/users/42/credits", json={"amount": 5, "reason": "b"},
                          headers={"Authorization": f"Bearer {admin}"}, timeout=10)
            with (REPO_ROOT / "assets" / "sample-selfie.jpg").open("rb") as selfie:
                image_url = requests.post(f"{base}/api/uploads", files={"image": selfie},
                                          headers=user, timeout=10).json()["imageUrl"]
            job = requests.post(f"{base}/api/headshots/generate", headers=user, timeout=10,
                                json={"imageUrl": image_url, "style": "corporate"}).json()
            wait_until(lambda: requests.get(f"{base}/api/headshots/status/{job['id']}",
                                            headers=user, timeout=5).json()["status"]
                       == "completed", timeout=60, message="the job")
            targets = {
                "/healthz (bare baseline)": (f"{base}/healthz", {}),
                "/api/headshots/status/{id}": (f"{base}/api/headshots/status/{job['id']}", user),
                "/api/headshots/history/{id}": (f"{base}/api/headshots/history/{job['id']}",
                                                user),
            }
            results: dict[str, list[WrkResult]] = {name: [] for name in targets}
            wrk(f"{base}/healthz", seconds=2)  # warm-up
            for _ in range(RUNS):  # interleaved, so drift on a shared machine hits all alike
                for name, (url, headers) in targets.items():
                    results[name].append(wrk(url, headers=headers))
        finally:
            worker.stop()
            web.stop()
    baseline = sorted(r.requests_per_second for r in results["/healthz (bare baseline)"])[1]
    print(f"gunicorn gevent, 2 workers, wrk -t2 -c32 -d5s, {RUNS} runs, median (range)")
    print(f"{'route':32} {'req/s':>20} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'vs bare':>8}")
    for name, runs in results.items():
        rps = [r.requests_per_second for r in runs]
        p50 = sorted(r.p50_ms for r in runs)[1]
        p99 = sorted(r.p99_ms for r in runs)[1]
        errors = sum(r.errors for r in runs)
        ratio = sorted(rps)[1] / baseline
        print(f"{name:32} {median_and_range(rps):>20} {p50:8.2f} {p99:8.2f} {errors:6d} "
              f"{ratio:8.2f}")


if __name__ == "__main__":
    main()
