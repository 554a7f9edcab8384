"""Pillow's heaviest work in the web process, done in a few child processes instead.

`off_the_event_loop` (media/off_loop.py) moves Pillow's work to a thread, which frees the gevent
hub only while Pillow has let go of the GIL; some codecs (WebP's decoder, a 40-megapixel
upload's checks and re-encoding) hold it for seconds, and then every other request of the
process waits that long, /healthz included. Here such work runs in a bounded pool of child
processes (IMAGE_WORK_PROCESSES per web process), at a lower CPU priority than the web process,
so that a few users uploading images at the limit queue behind each other, not everybody else.

Under gevent, the calling greenlet waits for a free process in the hub, then for its result in
a thread of gevent's pool (a blocking read of the child's pipe, which holds no GIL). The work
and its arguments travel pickled: a module-level function and plain values. Where gevent has
not patched the process (the Celery worker, the tests' in-process app), the work simply runs
in the caller's thread, as `off_the_event_loop` does there.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, ParamSpec, TypeVar

from config import get_settings
from media.off_loop import under_gevent

Result = TypeVar("Result")
Params = ParamSpec("Params")

# How much less CPU a child gets than the web process when both want it (nice(2) steps).
NICENESS = 10


class WorkProcessLost(RuntimeError):
    """The child died while it worked (killed, out of memory): nothing came back."""


class _WorkProcess:
    """One child process; it runs the calls sent over its pipe, one at a time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no gevent hub
        self.connection, child_end = context.Pipe()
        # A socket pair: gevent's, once patched, which makes it non-blocking; both ends block
        # here, the parent's in a thread of gevent's pool, the child's in its own loop.
        for end in (self.connection, child_end):
            os.set_blocking(end.fileno(), True)
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True,
                                       name="image-work")
        self.process.start()
        child_end.close()

    def call(self, work: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """(True, result) or (False, the exception it raised); in a thread, as it blocks."""
        try:
            self.connection.send((work, args, kwargs))
            answer: tuple[bool, Any] = self.connection.recv()
        except (EOFError, OSError) as error:
            raise WorkProcessLost(f"the image work process died: {error!r}") from None
        return answer

    def stop(self) -> None:
        self.connection.close()
        self.process.kill()
        self.process.join(timeout=5)


def _serve(connection: Connection) -> None:
    """The child's loop: run each call, send back its result or its exception."""
    os.nice(NICENESS)
    while True:
        try:
            work, args, kwargs = connection.recv()
        except EOFError:  # the web process is gone
            return
        try:
            answer: tuple[bool, Any] = (True, work(*args, **kwargs))
        except Exception as error:  # the caller raises it, as a direct call would
            answer = (False, error)
        try:
            connection.send(answer)
        except Exception as error:  # e.g. an exception that cannot be pickled
            connection.send((False, RuntimeError(f"{type(error).__name__}: {error}")))


class WorkProcesses:
    """At most `size` children, started when first needed, reused while they live."""

    def __init__(self, size: int) -> None:
        from gevent.lock import BoundedSemaphore

        self.size = size
        self._turns = BoundedSemaphore(size)
        self._idle: list[_WorkProcess] = []

    def run(self, work: Callable[..., Result], args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Result:
        from gevent import get_hub

        with self._turns:  # waits in the hub for one of the children
            process = self._idle.pop() if self._idle else _WorkProcess()
            try:
                succeeded, value = get_hub().threadpool.apply(process.call,
                                                              (work, args, kwargs))
            except BaseException:
                process.stop()  # died, or its caller was interrupted mid-call: not reusable
                raise
            self._idle.append(process)
        if not succeeded:
            raise value
        result: Result = value
        return result


_pool: WorkProcesses | None = None


def in_a_work_process(work: Callable[Params, Result], *args: Params.args,
                      **kwargs: Params.kwargs) -> Result:
    """`work(*args, **kwargs)`, in one of the web process's work processes when this process
    runs gevent; its result returned and its exception raised here, as a direct call's would
    be. `work` must be a module-level function (it is pickled)."""
    global _pool
    if not under_gevent():
        return work(*args, **kwargs)
    if _pool is None:
        _pool = WorkProcesses(get_settings().image_work_processes)
    return _pool.run(work, args, kwargs)
