"""wrk (Debian's, 4.1) as the load generator: one run, its figures parsed from `--latency`.

A run may rotate through several requests (each user's own token and job): a Lua script made
for the run sends them in turn.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Call:
    path: str
    token: str | None = None
    method: str = "GET"
    body: object | None = None  # sent as JSON


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers and socket errors


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text


def _script(calls: Sequence[Call]) -> str:
    entries = []
    for call in calls:
        headers = []
        if call.token:
            headers.append(f'["Authorization"] = {_lua_string("Bearer " + call.token)}')
        body = "nil"
        if call.body is not None:
            headers.append('["Content-Type"] = "application/json"')
            body = _lua_string(json.dumps(call.body))
        entries.append(f"wrk.format({_lua_string(call.method)}, {_lua_string(call.path)}, "
                       f"{{{', '.join(headers)}}}, {body})")
    return (
        "local built = nil\nlocal n = 0\n"
        "request = function()\n"
        f"  if built == nil then built = {{{', '.join(entries)}}} end\n"
        "  n = n % #built + 1\n  return built[n]\nend\n"
    )


def wrk(base_url: str, calls: Sequence[Call], *, seconds: float = 5, connections: int = 64
        ) -> WrkResult:
    """`wrk -t2 -c<connections> -d<seconds>s --latency`, rotating through `calls`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_script(calls))
    try:
        argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                "--timeout", "10s", "-s", script.name, base_url]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        Path(script.name).unlink()
    return parse(output)


def parse(output: str) -> WrkResult:
    def find(pattern: str) -> str:
        match = re.search(pattern, output, re.M)
        if match is None:
            raise ValueError(f"wrk output without {pattern!r}:\n{output}")
        return match.group(1)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(
        requests_per_second=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")), p99_ms=_ms(find(r"^\s+99%\s+(\S+)")),
        requests=int(find(r"(\d+) requests in")), errors=errors,
    )
