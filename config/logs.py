"""What a log line is: one JSON object, carrying the request id of the work it belongs to.

Every process (web, worker, beat) calls `configure_logging` once at start. The request id is
chosen (or taken from the client's `X-Request-Id`) when a request arrives, travels with each task
the request publishes in the message's headers (`workers/celery_app.py`), and is bound again
while the worker runs that task: an operator greps one id and sees the request, the job's state
changes in the web process and in the worker, and the worker's own lines.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a client may choose as its own id: short and harmless in a log or a header.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(process)d %(message)s"


def new_request_id(from_client: str | None = None) -> str:
    """The client's `X-Request-Id` when it is a sane one, else a new random id."""
    if from_client and CLIENT_REQUEST_ID.fullmatch(from_client):
        return from_client
    return uuid.uuid4().hex


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


def configure_logging(*, log_format: str = "json", level: str = "INFO") -> None:
    """One handler on the root logger, to stderr, in the chosen format. Idempotent."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(  # `time`: ISO 8601, UTC
            JSON_FIELDS, timestamp="time", rename_fields={"levelname": "level",
                                                          "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
