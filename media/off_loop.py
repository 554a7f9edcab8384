"""Pillow's work, run where it does not stop the web process's other requests.

The web process serves every connection from one gevent hub per process (config/web_worker.py):
a greenlet that decodes a 10 MB selfie or encodes an export holds the whole process for the
tens of milliseconds that takes, polls and streams included. Pillow releases the GIL while it
decodes, resizes and encodes, so a real thread of gevent's pool does that work while the hub
goes on serving. Where gevent has not patched the process (the Celery worker's threads, the
tests' in-process app), the work simply runs in the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

Result = TypeVar("Result")
Params = ParamSpec("Params")


def off_the_event_loop(work: Callable[Params, Result], *args: Params.args,
                       **kwargs: Params.kwargs) -> Result:
    """`work(*args, **kwargs)`, in a thread of gevent's pool when this process runs gevent;
    its result returned and its exception raised here, as a direct call's would be."""
    if not under_gevent():
        return work(*args, **kwargs)
    from gevent import get_hub

    result: Result = get_hub().threadpool.apply(work, args, kwargs)
    return result


def under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))
