"""The `web` process's gunicorn worker: gunicorn's gevent worker, with three additions.

gevent: each connection is a greenlet, so an open status stream or a client that sends slowly
costs a little memory, never one of a few threads (gthread's 2 x 8 were all it took for 16
streams to stall every other request). gunicorn's worker monkey-patches the standard library
in `init_process`, before it loads the app, so redis-py, kombu, requests and the locks of
SQLAlchemy's pool and prometheus-client all wait in the gevent hub.

1. psycopg2 is a C library that monkey-patching cannot reach: `psycogreen` gives it a wait
   callback, so a PostgreSQL query waits in the hub too, instead of stopping every greenlet of
   the process. Applied here, in each worker, right after gunicorn's own patching.
2. The head of each request (request line and headers) must arrive within
   REQUEST_ARRIVAL_SECONDS: gunicorn's gevent worker reads every head under `timeout_ctx()`,
   which it sizes by `keepalive`; here it is the setting, so a slowloris client is closed when
   it runs out. (An idle keep-alive connection gets the same time to send its next request.)
   The body's deadline is the app's: api/request_arrival.py.
3. Fair turns: after each request the connection's greenlet yields (`handle_request`), so the
   process serves its connections in turn rather than one quick client again and again.
4. A connection the app refused a body on (api/request_arrival.py: `close_after_response`) is
   closed once its answer is written. gunicorn would otherwise read the rest of that body, all
   of it, to find where the next request starts (it drops an app's `Connection: close`, a
   hop-by-hop header, and keeps the connection alive).

`timeout_ctx` and `handle_request` are gunicorn's worker internals, not a documented API
(docs/architecture.md, "Library internals we rely on"): tests/unit/test_library_internals.py
checks them against each gunicorn upgrade.
"""

from __future__ import annotations

from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker
from psycogreen.gevent import patch_psycopg

# The connections (gunicorn's client sockets) to close after the response being written.
_closing: set[Any] = set()


def close_after_response(connection: Any) -> None:
    """Close `connection` once the current response is written, unread bytes and all."""
    _closing.add(connection)


class WebWorker(GeventWorker):
    def patch(self) -> None:
        super().patch()
        patch_psycopg()
        self.log.info("gevent worker: standard library and psycopg2 (psycogreen) patched")

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> None:
        try:
            super().handle_request(listener_name, req, sock, addr)
        finally:
            closing = sock in _closing
            _closing.discard(sock)
        if closing:
            # How gunicorn's async worker ends a connection after a response: it stops its
            # loop over the connection's requests and closes the socket.
            raise StopIteration("the app refused the request's body")
        # Let the other connections have their turn before this one's next request. gevent
        # switches only when a read would wait, and a quick keep-alive client's next request
        # is often there already: without this, one connection can be served again and again
        # while the others wait for seconds, some past their client's timeout.
        gevent.sleep(0)

    def timeout_ctx(self) -> gevent.Timeout:
        from config import get_settings

        # False: when it runs out, gunicorn's read of the head just ends, and it closes the
        # connection (there is no complete request to answer).
        return gevent.Timeout(get_settings().request_arrival_seconds, False)
