"""The fake's HTTP server: gevent's WSGI server, answering without Nagle's delay."""

from __future__ import annotations

import socket
from typing import Any

from gevent.pywsgi import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    """gevent's WSGI server with TCP_NODELAY on every accepted connection, as the real GetImg's
    front servers answer. gevent leaves Nagle's algorithm on: on a kept-alive connection a reply
    written in two sends waited for the client's delayed ACK, about 40 ms a request on
    Linux, and every job's GetImg call took 140 ms where the fake's latency said 100 (the
    service's measured overhead was mostly that wait)."""

    def do_read(self) -> Any:
        accepted = super().do_read()
        if accepted is not None:
            accepted[0].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return accepted
