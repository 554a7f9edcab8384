"""Guards on the few private internals of other libraries this service relies on (the list, each
with its reason: docs/architecture.md, "Library internals we rely on").

Each test checks that the installed version still has the internal and that it is still
shaped and used as assumed; when an upgrade changes it, the test fails naming the library, its
installed version and the internal, so the upgrade decides what to do with it (drop ours, or
follow the change) before it ships.
"""

from __future__ import annotations

import fcntl
import importlib
import inspect
import logging
import socket
import struct
import termios
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import gunicorn.util
import pytest
from gunicorn.workers.base import Worker
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker
from redis.connection import Connection


def internal(library: str, name: str, assumption: str) -> str:
    """The message of a guard that failed: what changed, in which installed version."""
    return (f"{library} {version(library)}: {name} is no longer {assumption}; this service relies "
            f"on it (docs/architecture.md, 'Library internals we rely on'): drop that use or "
            f"follow the change before upgrading")


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def source(function: Callable[..., Any]) -> str:
    return inspect.getsource(function)


# redis-py: Connection._sock, read by the status mirror (services/status_mirror.py).

def test_redis_keeps_each_connections_socket_in_sock() -> None:
    from services.status_mirror import REDIS_SOCKET_ATTRIBUTE, redis_keeps_its_socket

    unconnected = vars(Connection())
    assert REDIS_SOCKET_ATTRIBUTE in unconnected and unconnected[REDIS_SOCKET_ATTRIBUTE] is None, \
        internal("redis", "Connection._sock", "an attribute set to None until connected")
    assert redis_keeps_its_socket()
    # Set to the socket when it connects, back to None when it disconnects.
    assert "self._sock = sock" in source(Connection.connect_check_health), \
        internal("redis", "Connection._sock", "set to the new socket in connect_check_health")
    assert "self._sock = None" in source(Connection.disconnect), \
        internal("redis", "Connection._sock", "set to None by disconnect")


def test_fionread_counts_the_bytes_waiting_in_a_socket() -> None:
    # What the mirror asks of that socket (the operating system's part, not redis-py's).
    reader, writer = socket.socketpair()
    with reader, writer:
        empty = struct.pack("i", 0)
        assert fcntl.ioctl(reader.fileno(), termios.FIONREAD, empty) == empty
        writer.sendall(b"message")
        waiting = fcntl.ioctl(reader.fileno(), termios.FIONREAD, empty)
        assert struct.unpack("i", waiting)[0] == len(b"message")


# gunicorn: util.write_error, replaced by config/gunicorn.py so that the requests gunicorn
# refuses itself get the service's JSON error body.

@pytest.fixture
def gunicorn_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    """config/gunicorn.py as gunicorn's master loads it; its metrics folder set here, so that
    importing it leaves this process's environment as it was."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    return importlib.import_module("config.gunicorn")


def test_gunicorn_writes_every_refusal_through_util_write_error(
        gunicorn_config: ModuleType) -> None:
    assert parameters(gunicorn_config.GUNICORN_WRITE_ERROR) == parameters(
        gunicorn_config._write_json_error), \
        internal("gunicorn", "util.write_error", "(sock, status_int, reason, mesg)")
    assert gunicorn.util.write_error is gunicorn_config._write_json_error, \
        internal("gunicorn", "util.write_error", "replaceable by assignment")
    assert "util.write_error(client, status_int, reason, mesg)" in source(Worker.handle_error), \
        internal("gunicorn", "util.write_error", "what Worker.handle_error writes refusals with")
    assert callable(getattr(gunicorn.util, "write_nonblock", None)), \
        internal("gunicorn", "util.write_nonblock", "a function")


def test_the_replaced_write_error_writes_the_json_error_body(gunicorn_config: ModuleType) -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        gunicorn.util.write_error(writer, 431, "Request Header Fields Too Large", "header too long")
        writer.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: reader.recv(65536), b""))
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head
    assert body == (b'{"error": {"code": "headers_too_large", '
                    b'"message": "header too long"}}')


# gunicorn: GeventWorker.handle_request and timeout_ctx, overridden by config/web_worker.py.

def test_gunicorn_gevent_worker_hooks_are_where_the_web_worker_overrides_them() -> None:
    assert parameters(GeventWorker.handle_request) == ["self", "listener_name", "req", "sock",
                                                       "addr"], \
        internal("gunicorn", "GeventWorker.handle_request", "(listener_name, req, sock, addr)")
    assert parameters(GeventWorker.timeout_ctx) == ["self"], \
        internal("gunicorn", "GeventWorker.timeout_ctx", "a method of no arguments")
    # The gevent worker's `handle` is AsyncWorker's, with the head read under timeout_ctx().
    assert "with self.timeout_ctx():" in source(AsyncWorker.handle), \
        internal("gunicorn", "GeventWorker.timeout_ctx", "what bounds the read of a head")
    # A StopIteration out of handle_request ends the connection's loop and closes its socket:
    # how the web worker drops a connection whose body the app refused (close_after_response).
    assert "except StopIteration" in source(AsyncWorker.handle), \
        internal("gunicorn", "AsyncWorker.handle", "ending a connection on StopIteration")


# The standard library: logging._srcfile, set to None by config/logs.py (the logging HOWTO's
# "Optimization" table documents it).

def test_logging_skips_the_callers_file_when_srcfile_is_none() -> None:
    assert hasattr(logging, "_srcfile"), "Python's logging: _srcfile is gone (config/logs.py)"
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger = logging.getLogger("tests.library_internals")
    logger.addHandler(handler)
    logger.propagate = False
    kept = logging._srcfile
    try:
        logging._srcfile = None
        logger.warning("where from?")
    finally:
        logging._srcfile = kept
        logger.removeHandler(handler)
    assert records[0].pathname == "(unknown file)" and records[0].funcName == "(unknown function)"


# Celery: Consumer.on_send_event_buffered, overridden by workers/task_events.py so that task
# events are flushed by a timer, not at every turn of the event loop.

def test_celery_flushes_buffered_task_events_through_on_send_event_buffered() -> None:
    from celery.events.dispatcher import EventDispatcher
    from celery.worker.consumer import Consumer
    from celery.worker.consumer.events import Events

    from workers import task_events

    assert parameters(Consumer.on_send_event_buffered) == ["self"], \
        internal("celery", "Consumer.on_send_event_buffered", "a method of no arguments")
    assert "on_send_buffered=c.on_send_event_buffered if c.hub else None" in source(
        Events.start), \
        internal("celery", "Consumer.on_send_event_buffered",
                 "what the Events step gives its dispatcher as on_send_buffered")
    assert "buffer_group=['task'] if c.hub else None" in source(Events.start), \
        internal("celery", "events.Events.start", "buffering the task events")
    assert parameters(EventDispatcher.flush)[:1] == ["self"]
    assert issubclass(task_events.Consumer, Consumer)


# Flask-Limiter: the request hooks its init_app registers, which api/limits.py wraps so they
# skip the blueprints no budget applies to.

def test_flask_limiter_registers_one_app_wide_hook_of_each_kind() -> None:
    from flask import Flask
    from flask_limiter import Limiter

    app = Flask("guard")
    hooks: dict[str, dict[Any, list[Any]]] = {
        "before_request": app.before_request_funcs, "after_request": app.after_request_funcs,
        "teardown_request": app.teardown_request_funcs}
    Limiter(key_func=lambda: "caller", storage_uri="memory://").init_app(app)
    for kind, funcs in hooks.items():
        assert set(funcs) == {None} and len(funcs[None]) == 1, \
            internal("flask-limiter", f"Limiter.init_app's {kind} hook",
                     "one function registered for the whole app")


def test_init_limits_wraps_flask_limiters_hooks_and_no_other() -> None:
    from flask import Flask

    from api import limits
    from config import Settings, use_settings

    use_settings(Settings())
    app = Flask("guard")

    @app.before_request
    def own_hook() -> None:
        return None

    limits.init_limits(app)
    before = app.before_request_funcs[None]
    assert before[0] is own_hook and len(before) == 2
    assert not hasattr(own_hook, "__wrapped__")
    # Ours, the RateLimit-* headers, registered before Flask-Limiter's and left unwrapped (it
    # skips the unbudgeted blueprints itself).
    after = app.after_request_funcs[None]
    assert after[0] is limits._rate_limit_headers and not hasattr(after[0], "__wrapped__")
    added = [before[1], *after[1:], *app.teardown_request_funcs[None]]
    assert len(added) == 3
    # Each one Flask-Limiter added, wrapped so that for a status poll it does not run.
    assert all(getattr(hook, "__wrapped__", None) is not None for hook in added)
