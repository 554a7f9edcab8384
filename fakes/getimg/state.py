"""The fake's knobs and shared state: limits, scripted outcomes, stats, stored results."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import random
import re
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fakes.getimg.wire import MIB, ApiError, iso_time

OUTCOMES = ("ok", "429", "500", "502", "503", "timeout", "quota", "policy", "garbage",
            "badjson", "badimage", "401")
STATUS_ALIASES = {"402": "quota", "422": "policy"}  # so fail_status=402 means "quota"
RESULT_STORE_BYTES = 256 * MIB
DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,  # added to every generation
    "rate_limit_rpm": 600,  # per key, sliding 60 s window
    "max_concurrency": 32,  # in-flight generations per key
    "fail_rate": 0.0,  # probability of answering fail_status
    "fail_status": 500,
    "script": [],  # outcomes consumed one per generation call
    "mix": {},  # outcome -> weight, drawn when the script is empty
    "seed": None,  # seeds fail_rate and mix draws
    "retry_after": 1,  # Retry-After of a scripted 429
    "timeout_seconds": 30.0,  # how long a "timeout" outcome hangs before a 504
    "url_ttl_seconds": 3600,  # download URL lifetime; <= 0 hands out expired URLs
    "models": ["seedream-5-lite"],  # model ids accepted (seedream-5-lite is the docs' example)
    "balance": "100.00",  # USD; a generation that costs more answers 402 quota_exceeded
}


def coerce_knob(name: str, value: Any) -> Any:
    """Validate one knob; strings (from env or CLI) may be JSON or comma/`k=v` lists."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown knob {name!r}; known: {', '.join(sorted(DEFAULTS))}")
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        value = json.loads(value)
    if name in ("script", "models"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"{name} must be a list")
        cleaned = [str(item).strip() for item in items if str(item).strip()]
        if name == "script":
            cleaned = [check_outcome(item) for item in cleaned]
        return cleaned
    if name == "mix":
        if isinstance(value, str):
            value = dict(pair.split("=", 1) for pair in value.split(",") if pair.strip())
        if not isinstance(value, dict):
            raise ValueError("mix must map outcome -> weight")
        mix = {check_outcome(str(k).strip()): float(w) for k, w in value.items()}
        if any(w < 0 or not math.isfinite(w) for w in mix.values()):
            raise ValueError("mix weights must be finite and >= 0")
        return mix
    if name == "seed":
        return None if value in (None, "") else int(value)
    if name == "balance":
        try:
            return str(Decimal(str(value)))
        except InvalidOperation:
            raise ValueError("balance must be a decimal number") from None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    number = type(DEFAULTS[name])(value)
    if name == "fail_status" and not 400 <= number <= 599:
        raise ValueError("fail_status must be a 4xx or 5xx status")
    if name == "fail_rate" and not 0 <= number <= 1:
        raise ValueError("fail_rate must be within [0, 1]")
    return number


def check_outcome(outcome: str) -> str:
    outcome = STATUS_ALIASES.get(outcome, outcome)
    if outcome not in OUTCOMES and not re.fullmatch(r"[45]\d\d", outcome):
        raise ValueError(f"unknown outcome {outcome!r}; known: {', '.join(OUTCOMES)} or a status")
    return outcome


class FakeState:
    """Configuration, counters, limits and stored results; shared by request threads."""

    def __init__(self, startup: Mapping[str, Any], secret: bytes) -> None:
        self.lock = threading.Lock()
        self.startup = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(dict(startup))}
        self.secret = secret
        self.results: OrderedDict[str, list[tuple[bytes, str]]] = OrderedDict()
        self.results_bytes = 0
        self.epoch = 0
        self.reset()

    def reset(self) -> None:
        """Back to the start-up config. Requests still in flight are forgotten: when they
        finish they neither count in the stats nor free a concurrency slot."""
        with self.lock:
            self.epoch += 1
            self.config = copy.deepcopy(self.startup)
            self.script: deque[str] = deque(self.config["script"])
            self.rng = random.Random(self.config["seed"])
            self.balance = Decimal(self.config["balance"])
            self.windows: dict[str, deque[float]] = {}
            self.in_flight: Counter[str] = Counter()
            # The most generations in flight at once (all keys), and the 429s answered for
            # max_concurrency: what a shared concurrency limit on our side must keep at 0.
            self.peak_in_flight, self.over_concurrency = 0, 0
            self.calls, self.downloads = 0, 0
            self.by_status: Counter[str] = Counter()
            self.by_outcome: Counter[str] = Counter()
            self.recent: deque[dict[str, Any]] = deque(maxlen=100)

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        coerced = {name: coerce_knob(name, value) for name, value in changes.items()}
        with self.lock:
            self.config.update(coerced)
            if "script" in coerced:
                self.script = deque(coerced["script"])
            if "seed" in coerced:
                self.rng = random.Random(coerced["seed"])
            if "balance" in coerced:
                self.balance = Decimal(coerced["balance"])
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**copy.deepcopy(self.config), "script": list(self.script),
                    "balance": str(self.balance)}

    def admit(self, key: str) -> int:
        """Count a generation against the key's limits (or raise the 429); returns the epoch
        to hand back to release() and record()."""
        now = time.time()
        with self.lock:
            window = self._window(key, now)
            if len(window) >= self.config["rate_limit_rpm"]:
                wait = max(1, math.ceil(window[0] + 60 - now)) if window else 60
                raise ApiError(429, "rate_limit", "Rate limit exceeded. Please retry later.",
                               headers={"Retry-After": str(wait)})
            if self.in_flight[key] >= self.config["max_concurrency"]:
                self.over_concurrency += 1
                raise ApiError(429, "rate_limit", "Too many concurrent requests. Please wait "
                               "for current requests to finish.", headers={"Retry-After": "1"})
            window.append(now)
            self.in_flight[key] += 1
            self.peak_in_flight = max(self.peak_in_flight, sum(self.in_flight.values()))
            return self.epoch

    def release(self, key: str, epoch: int) -> None:
        with self.lock:
            if epoch == self.epoch:
                self.in_flight[key] = max(0, self.in_flight[key] - 1)

    def rate_headers(self, key: str) -> dict[str, str]:
        now = time.time()
        with self.lock:
            window, limit = self._window(key, now), self.config["rate_limit_rpm"]
            reset = math.ceil(window[0] + 60) if window else math.ceil(now + 60)
            return {"X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(max(0, limit - len(window))),
                    "X-RateLimit-Reset": str(reset)}

    def _window(self, key: str, now: float) -> deque[float]:
        window = self.windows.setdefault(key, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        return window

    def next_outcome(self) -> str:
        with self.lock:
            if self.script:
                return self.script.popleft()
            if self.config["fail_rate"] and self.rng.random() < self.config["fail_rate"]:
                return check_outcome(str(self.config["fail_status"]))
            mix = {k: w for k, w in self.config["mix"].items() if w > 0}
            if mix:
                return self.rng.choices(list(mix), weights=list(mix.values()))[0]
            return "ok"

    def charge(self, amount: Decimal) -> None:
        with self.lock:
            if self.balance < amount:
                raise ApiError(402, "quota_exceeded", "Insufficient account balance or quota.")
            self.balance -= amount

    def store(self, req_id: str, files: list[tuple[bytes, str]]) -> None:
        with self.lock:
            self.results[req_id] = files
            self.results_bytes += sum(len(body) for body, _ in files)
            while self.results_bytes > RESULT_STORE_BYTES and len(self.results) > 1:
                _, old = self.results.popitem(last=False)
                self.results_bytes -= sum(len(body) for body, _ in old)

    def fetch(self, req_id: str, index: int) -> tuple[bytes, str] | None:
        with self.lock:
            files = self.results.get(req_id)
            self.downloads += 1
            return files[index] if files and 0 <= index < len(files) else None

    def record(self, status: int, outcome: str, info: dict[str, Any], epoch: int) -> None:
        with self.lock:
            if epoch != self.epoch:
                return
            self.calls += 1
            self.by_status[str(status)] += 1
            self.by_outcome[outcome] += 1
            self.recent.append({**info, "status": status, "outcome": outcome,
                                "at": iso_time(time.time())})

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"generation_calls": self.calls, "by_status": dict(self.by_status),
                    "by_outcome": dict(self.by_outcome), "in_flight": sum(self.in_flight.values()),
                    "peak_in_flight": self.peak_in_flight,
                    "over_concurrency": self.over_concurrency,
                    "downloads": self.downloads, "script_remaining": list(self.script),
                    "balance": str(self.balance), "recent": list(self.recent)}

    def sign(self, req_id: str, index: int, exp: str) -> str:
        message = f"{req_id}/{index}/{exp}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:40]
