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


# kombu: Channel.conn_or_acquire, overridden by workers/redis_transport.py to hand out one
# client per channel, made by Channel._create_client.

def test_kombu_redis_channel_acquires_its_clients_where_the_transport_overrides_it() -> None:
    from kombu.transport import redis as kombu_redis

    from workers import redis_transport

    channel = kombu_redis.Channel
    assert parameters(channel.conn_or_acquire) == ["self", "client"], \
        internal("kombu", "redis.Channel.conn_or_acquire", "(client=None), a context manager")
    assert "yield self._create_client()" in source(channel.conn_or_acquire), \
        internal("kombu", "redis.Channel.conn_or_acquire",
                 "a new client from _create_client() per use")
    assert parameters(channel._create_client) == ["self", "asynchronous"], \
        internal("kombu", "redis.Channel._create_client", "(asynchronous=False)")
    assert "connection_pool': self.pool" in source(channel._create_client), \
        internal("kombu", "redis.Channel._create_client", "a client on the channel's pool")
    assert issubclass(redis_transport.Transport.Channel, channel)


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
