"""What a log line is: one JSON object, carrying the request id of the work it belongs to.

Every process (web, worker, beat) calls `configure_logging` once at start. The request id is
chosen (or taken from the client's `X-Request-Id`) when a request arrives, travels with each task
the request publishes in the message's headers (`workers/celery_app.py`), and is bound again
while the worker runs that task: an operator greps one id and sees the request, the job's state
changes in the web process and in the worker, and the worker's own lines.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonEncoder

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a client may choose as its own id: short and harmless in a log or a header.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def new_request_id(from_client: str | None = None) -> str:
    """The client's `X-Request-Id` when it is a sane one, else a new random id."""
    if from_client and CLIENT_REQUEST_ID.fullmatch(from_client):
        return from_client
    # 32 hex digits, as uuid4().hex wrote them, without the UUID object and the getrandom
    # syscall per request.
    # An id only has to be unique, not secret (a client may choose its own); `random` is seeded
    # from os.urandom at start and again in each forked worker.
    return f"{random.getrandbits(128):032x}"


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> None:
    """Make `request_id` the one this thread's (or greenlet's) log lines carry from now on."""
    _request_id.set(request_id)


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
    # At the record's birth rather than in one handler's filter: every handler sees the id
    # (pytest's caplog included), and a record logged outside any request has none.
    record = _make_record(*args, **kwargs)
    request_id = _request_id.get()
    if request_id is not None:
        record.request_id = request_id
    return record


class JsonLines(logging.Formatter):
    """One JSON object per record: `level`, `logger`, `process`, `message`, then `exc_info` and
    `stack_info` when there are any, every `extra` field (the request id among them), and
    `time` (ISO 8601, UTC).

    The same object python-json-logger's JsonFormatter made with these fields, for much less
    CPU: the web logs a line per request, and that formatter's generic field handling
    (a format string parsed into fields, renames, a list of reserved names scanned per
    attribute) was a real share of a status poll. Values JSON has no type for go through
    python-json-logger's encoder.
    """

    _SKIPPED = frozenset(RESERVED_ATTRS) | {"taskName"}
    _encoder = JsonEncoder(ensure_ascii=True)

    def format(self, record: logging.LogRecord) -> str:
        given: dict[str, Any] = {}
        if isinstance(record.msg, dict):  # a dict logged as the message: its fields
            given, message = dict(record.msg), ""
        else:
            message = record.getMessage()
        line: dict[str, Any] = {"level": record.levelname, "logger": record.name,
                                "process": record.process, "message": message, **given}
        if record.exc_info and not line.get("exc_info"):
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text and not line.get("exc_info"):
            line["exc_info"] = record.exc_text
        if record.stack_info and not line.get("stack_info"):
            line["stack_info"] = self.formatStack(record.stack_info)
        skipped = self._SKIPPED
        for key, value in record.__dict__.items():
            if key not in skipped and not key.startswith("_"):
                line[key] = value
        line["time"] = datetime.fromtimestamp(record.created, UTC).isoformat()
        return self._encoder.encode(line)


def configure_logging(*, log_format: str = "json", level: str = "INFO") -> None:
    """One handler on the root logger, to stderr, in the chosen format. Idempotent."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    # No line carries its caller's file, line or function, nor the thread's or the
    # multiprocessing process's name: logging need not look them up for each record (the
    # logging HOWTO's "Optimization"; under gevent a thread's name is a greenlet lookup).
    # `_srcfile` is private but documented there; tests/unit/test_library_internals.py
    # checks that it still has that effect.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
