"""`bench/run [NAME ...]`: every benchmark (or the ones named), each on a stack of its own,
then one markdown table: medians of the interleaved runs, ranges, the ratio to the bare
baseline measured in the same run, the target and whether it was met.

    bench/run                     # status, accept, drain, overhead (565 s on a quiet-ish box)
    bench/run status accept       # just those
    bench/run memory              # web and worker RSS over 5000 jobs (minutes of their own)
    bench/run streams streams-gthread  # 300 open streams: gevent, then gthread 2 x 8
    bench/run --runs 1 status     # a quick look
    bench/run abuse               # /healthz and /api/me while a few users send huge bodies
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import abuse, accept, drain, memory, overhead, status_poll, streams  # noqa: E402
from bench.table import Row, markdown  # noqa: E402

BENCHMARKS: dict[str, Callable[[int], list[Row]]] = {
    "status": status_poll.run,
    "accept": accept.run,
    "drain": drain.run,
    "overhead": overhead.run,
}
EXTRA: dict[str, Callable[[int], list[Row]]] = {
    "memory": memory.run,  # 5000 jobs through the web: a few minutes of its own
    "streams": streams.run,  # ~70 s for one run
    "streams-gthread": streams.run_gthread,  # `streams` on the worker class web had before
    "abuse": abuse.run,  # /healthz and /api/me beside abusive clients: ~4 x 16 s a run
}
LATEST = Path(__file__).resolve().parents[1] / "var" / "bench" / "latest.md"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
    ).stdout.strip()
    return (f"{os.cpu_count()} vCPU ({cpu}), Python {platform.python_version()}, "
            f"commit {commit or '?'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"of {', '.join([*BENCHMARKS, *EXTRA])} "
                             f"(default: all but {', '.join(EXTRA)})")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (bench/run installs it: apt-get install wrk)")
    chosen = arguments.names or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in {**BENCHMARKS, **EXTRA}]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}")
    started = time.monotonic()
    header = [f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_machine()}",
              f"load average at start: {_load()}"]
    rows: list[Row] = []
    for name in chosen:
        print(f"==> bench {name} (load {_load()})", flush=True)
        began = time.monotonic()
        try:
            rows += {**BENCHMARKS, **EXTRA}[name](arguments.runs)
        except Exception as error:  # noqa: BLE001 - the other benchmarks' figures still count
            traceback.print_exc()
            rows.append(Row(name, f"failed: {type(error).__name__}: {error}"[:200], [0.0],
                            passed=False))
        print(f"    {name}: {time.monotonic() - began:.0f} s", flush=True)
    header.append(f"load average at end: {_load()}; whole run {time.monotonic() - started:.0f} s; "
                  f"{arguments.runs} interleaved runs (baseline, then path)")
    report = "\n".join(header) + "\n\n" + markdown(rows) + "\n"
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(report)
    print()
    print(report)


if __name__ == "__main__":
    main()
