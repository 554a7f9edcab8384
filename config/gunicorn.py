"""gunicorn settings for the `web` process (Procfile)."""

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gevent (config/web_worker.py): a status stream or a slow client holds a greenlet, not a
# thread, so a few hundred of them cannot starve the other requests. Each worker serves at
# most WEB_CONNECTIONS connections at once (streams included; STREAM_MAX_OPEN bounds those
# across the service); past that, connections wait in the listen backlog.
worker_class = "config.web_worker.WebWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
timeout = 60
graceful_timeout = 20
# Keep-alive on; how long an idle connection may wait for its next request's head is
# REQUEST_ARRIVAL_SECONDS (config/web_worker.py), not this number.
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl),
# which two servers on one machine (the demo and the tests) would fight over; nothing uses it.
control_socket_disable = True

# Prometheus: each worker process counts into its own files in this folder and /metrics sums
# them all (prometheus-client's multiprocess mode). Set here, in the master, before any worker
# imports prometheus-client, so every worker inherits it; one folder per port, so the demo and
# the tests' server never share one. PROMETHEUS_MULTIPROC_DIR set by the operator wins.
_port = bind.rsplit(":", 1)[1]
METRICS_DIR = Path(os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(__file__).resolve().parents[1] / "var" / "run" / f"web-metrics-{_port}"),
))


def on_starting(server: Any) -> None:
    # A fresh, empty folder per start: files left by an earlier run's processes would be summed
    # into this run's counters (counters must start at zero when the server does).
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    # A dead worker's live gauges must not linger (its counters stay summed, as they should).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# Requests gunicorn refuses before Flask sees them (a header over 8 KB, a broken request line)
# get the service's error shape too, not gunicorn's HTML page. gunicorn has no setting or hook
# for that page: every worker class writes it through the one function `util.write_error`
# (from `Worker.handle_error`), which is replaced here, in the master before any worker
# starts. A library internal (docs/architecture.md, "Library internals we rely on"), checked
# against each gunicorn upgrade by tests/unit/test_library_internals.py.
PROTOCOL_ERROR_CODES = {400: "bad_request", 414: "uri_too_long", 417: "expectation_failed",
                        431: "headers_too_large", 500: "internal_error",
                        501: "not_implemented"}


def _write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps({"error": {
        "code": PROTOCOL_ERROR_CODES.get(status_int, "bad_request"),
        "message": (mesg or reason)[:200],
    }}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


GUNICORN_WRITE_ERROR = gunicorn_util.write_error  # gunicorn's own, for the guard's signature check
gunicorn_util.write_error = _write_json_error
