"""Outside gevent (the Celery worker, the in-process app), `off_the_event_loop` is a plain call."""

from __future__ import annotations

import threading

import pytest

from media.off_loop import off_the_event_loop


def test_a_plain_call_in_the_callers_thread() -> None:
    def work(a: int, *, b: int) -> tuple[int, threading.Thread]:
        return a + b, threading.current_thread()

    total, thread = off_the_event_loop(work, 2, b=3)
    assert total == 5 and thread is threading.current_thread()


def test_the_works_exception_is_raised_to_the_caller() -> None:
    def work() -> None:
        raise ValueError("broken image")

    with pytest.raises(ValueError, match="broken image"):
        off_the_event_loop(work)
