"""Accepting work: `POST /api/headshots/generate` and `POST /api/headshots/batch` (4 styles),
sustained, 32 connections, worker stopped, beside bare `/pg-write` (one committed INSERT) in
the same run. 16 users, each with its own token and upload. The ledger is checked after.
Also the web's CPU per accepted job and its RSS before and after (memory, web side).

And the stack's floor for the same work, in the same run: bare `/enqueue` (the job's row
committed and its Celery task published, nothing else: no token, limit, charge or reply),
once and with 4 jobs. Its ratio to `/pg-write` is the most any accept can reach here.
"""

from __future__ import annotations

import statistics

from bench.accounts import ledger_holds, make_users
from bench.harness import bench_stack, cpu_seconds, rss_mib
from bench.load import Call, WrkResult, wrk
from bench.table import Row

USERS = 16
CONNECTIONS = 32
SECONDS = 5
BATCH_STYLES = ["corporate", "creative", "model", "casual"]


def run(runs: int) -> list[Row]:
    with bench_stack("accept") as stack:
        users = make_users(stack.web_url, USERS)
        styles = _styles(stack.web_url, users[0].headers)
        generate = [Call("/api/headshots/generate", user.token, "POST",
                         {"imageUrl": user.image_url, "style": "corporate"}) for user in users]
        batch = [Call("/api/headshots/batch", user.token, "POST",
                      {"imageUrl": user.image_url, "styles": styles}) for user in users]
        targets = {
            "pg-write": (stack.bare_url, [Call("/pg-write")]),
            "enqueue": (stack.bare_url, [Call("/enqueue", method="POST")]),
            "enqueue-4": (stack.bare_url, [Call(f"/enqueue?jobs={len(styles)}", method="POST")]),
            "generate": (stack.web_url, generate),
            "batch": (stack.web_url, batch),
        }
        for url, calls in targets.values():
            wrk(url, calls, seconds=1, connections=CONNECTIONS)
        rss_before = rss_mib(stack.web)
        results: dict[str, list[WrkResult]] = {name: [] for name in targets}
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(runs):
            for name, (url, calls) in targets.items():
                service = stack.bare if url == stack.bare_url else stack.web
                start = cpu_seconds(service)
                result = wrk(url, calls, seconds=SECONDS, connections=CONNECTIONS)
                cpu[name].append((cpu_seconds(service) - start) * 1000 / result.requests)
                results[name].append(result)
        rss_after = rss_mib(stack.web)
        ledger_ok, ledger_note = ledger_holds(stack.database_url)

    def rps(name: str) -> list[float]:
        return [r.requests_per_second for r in results[name]]

    def p99(name: str) -> list[float]:
        return [r.p99_ms for r in results[name]]

    accepted = sum(r.requests for name in ("generate", "batch") for r in results[name])
    errors = {name: sum(r.errors for r in results[name]) for name in results}
    growth = (rss_after - rss_before) / rss_before * 100
    return [
        Row("accept: POST /generate (32 conn)", f"req/s ({errors['generate']} errors)",
            rps("generate"), "", "bare /pg-write", rps("pg-write"), "≥ 0.5×",
            _ratio(rps("generate"), rps("pg-write")) >= 0.5 and errors["generate"] == 0),
        Row("accept: POST /generate", "p99", p99("generate"), "ms", "bare /pg-write",
            p99("pg-write")),
        Row("accept: POST /generate", "web CPU per request", cpu["generate"], "ms",
            "bare /pg-write", cpu["pg-write"]),
        Row("accept: POST /generate", "req/s", rps("generate"), "",
            "bare /enqueue (the stack's floor)", rps("enqueue")),
        Row("floor: bare /enqueue (1 job)", f"req/s ({errors['enqueue']} errors)",
            rps("enqueue"), "", "bare /pg-write", rps("pg-write")),
        Row("floor: bare /enqueue", "CPU per request", cpu["enqueue"], "ms",
            "bare /pg-write", cpu["pg-write"]),
        Row(f"batch accept: POST /batch ({len(styles)} styles)",
            f"req/s ({errors['batch']} errors)", rps("batch"), "",
            "bare /pg-write", rps("pg-write"), "≥ 0.25×",
            _ratio(rps("batch"), rps("pg-write")) >= 0.25 and errors["batch"] == 0),
        Row("batch accept", "p99", p99("batch"), "ms", "bare /pg-write", p99("pg-write")),
        Row("batch accept", "web CPU per request", cpu["batch"], "ms", "bare /pg-write",
            cpu["pg-write"]),
        Row("batch accept", "req/s", rps("batch"), "",
            f"bare /enqueue?jobs={len(styles)} (floor)", rps("enqueue-4")),
        Row(f"floor: bare /enqueue ({len(styles)} jobs)", f"req/s ({errors['enqueue-4']} errors)",
            rps("enqueue-4"), "", "bare /pg-write", rps("pg-write")),
        Row("accept + batch", "ledger: balance == sum(ledger)", [1.0 if ledger_ok else 0.0], "",
            ledger_note, (), "holds", ledger_ok),
        Row("memory: web RSS", f"growth over {accepted} accept requests", [growth], "%",
            f"{rss_before:.0f} → {rss_after:.0f} MiB", (), "< 10 %", growth < 10),
    ]


def _styles(base_url: str, headers: dict[str, str]) -> list[str]:
    import requests

    answer = requests.get(f"{base_url}/api/headshots/styles", headers=headers, timeout=30)
    offered = [style["id"] for style in answer.json()["data"]]
    return [style for style in BATCH_STYLES if style in offered][:4] or offered[:4]


def _ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(values) / statistics.median(baseline)
