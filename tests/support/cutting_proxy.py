"""A TCP proxy on loopback that a test can cut: every connection through it closed at once, as
a network drop does, while new connections still go through. It keeps what clients sent, so a
test can read the requests (their headers) a browser made."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CuttingProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._sent: list[bytearray] = []  # per connection, what its client sent
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._accepting.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._listener.close()
        self.cut()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_sent(self) -> list[str]:
        """What each client connection sent so far, oldest first."""
        with self._lock:
            return [bytes(sent).decode("latin-1") for sent in self._sent]

    def cut(self) -> int:
        """Close every open connection (both ends); the number of client connections cut."""
        with self._lock:
            held, self._open = self._open, set()
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return len(held) // 2

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            sent = bytearray()
            with self._lock:
                self._open.update((client, upstream))
                self._sent.append(sent)
            threading.Thread(target=self._pump, args=(client, upstream, sent),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket,
              kept: bytearray | None) -> None:
        try:
            while chunk := source.recv(65536):
                if kept is not None:
                    with self._lock:
                        kept.extend(chunk)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._open.discard(source)
                self._open.discard(target)
