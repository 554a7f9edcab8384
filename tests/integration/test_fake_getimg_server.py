"""The fake GetImg's server: every accepted connection answers without Nagle's delay."""

from __future__ import annotations

import socket

from fakes.getimg.app import create_app
from fakes.getimg.server import NoDelayWSGIServer


def test_every_accepted_connection_has_nagle_off() -> None:
    server = NoDelayWSGIServer(("127.0.0.1", 0), create_app({}), log=None)
    server.init_socket()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5):
            accepted, _ = server.do_read()
            try:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                accepted.close()
    finally:
        server.close()
