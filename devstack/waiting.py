"""The one polling loop: wait for a service to come up or for a condition to hold."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05,
               message: str = "condition",
               ignore: tuple[type[BaseException], ...] = ()) -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds.

    Exceptions listed in `ignore` count as "not yet" (a service still starting); any other
    exception, a failed assertion in particular, ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except ignore:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
