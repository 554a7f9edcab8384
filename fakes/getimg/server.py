"""The fake's HTTP server: gevent's WSGI server, answering without Nagle's delay and telling
the app each request's connection (`CLIENT_SOCKET`), so it can see a client leave."""

from __future__ import annotations

import socket
from typing import Any

from gevent.pywsgi import WSGIHandler, WSGIServer

from fakes.getimg.app import CLIENT_SOCKET


class ClientAwareHandler(WSGIHandler):
    """gevent's handler, with the request's connection in its environ: a slow generation
    watches it, as the real service may notice a client that hung up."""

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[CLIENT_SOCKET] = self.socket
        return environ


class NoDelayWSGIServer(WSGIServer):
    """gevent's WSGI server with TCP_NODELAY on every accepted connection, as the real GetImg's
    front servers answer. gevent leaves Nagle's algorithm on: a client calling one request after
    another on a kept-alive connection waited for its own delayed ACK before each reply's last
    part, ~40 ms a call on Linux (a 401 answered at once took 44 ms, 1.9 ms with this)."""

    handler_class = ClientAwareHandler

    def do_read(self) -> Any:
        accepted = super().do_read()
        if accepted is not None:
            accepted[0].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return accepted
