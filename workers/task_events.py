"""The worker's task events for Flower, sent in batches every `FLUSH_SECONDS`.

Celery's worker buffers its task events (received, started, succeeded…) and, for each one,
asks its event loop to flush the buffer on the next turn. Sixteen threads finish their jobs at
different moments, so nearly every event went out alone: a kombu publish and a Redis PUBLISH
per event, three per job, a real share of the worker's CPU per job. Here a timer flushes
whatever has gathered every `FLUSH_SECONDS` instead: Flower shows a task's new state up to
that much later, and reads a batch exactly as it reads one event (a message of a list of
events, which Celery's own buffering already sends).

Celery has no setting for this: the consumer's `on_send_event_buffered`, which its Events step
hands to the dispatcher as the "buffered" callback, is replaced by one that does nothing. That
method is Celery's internal (docs/architecture.md, "Library internals we rely on"), checked
against each Celery upgrade by tests/unit/test_library_internals.py.

Selected by `worker_consumer` in `celeryconfig.py`; the step joins the consumer's blueprint in
`workers/celery_app.py`.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.worker.consumer import Consumer as CeleryConsumer

FLUSH_SECONDS = 0.5


class Consumer(CeleryConsumer):
    def on_send_event_buffered(self) -> None:
        """Leave the flush to `FlushTaskEvents`' timer (Celery flushes on the next loop turn)."""


class FlushTaskEvents(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry: Any = None

    def start(self, c: Any) -> None:
        if c.hub is not None:  # without an event loop Celery sends each event at once
            self.timer_entry = c.timer.call_repeatedly(FLUSH_SECONDS, _flush, (c,))

    def stop(self, c: Any) -> None:
        # Before the connection closes (the Events step stops after this one): the last
        # events still reach Flower.
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        _flush(c)

    shutdown = stop


def _flush(c: Any) -> None:
    """Send what the consumer's event dispatcher holds (None while it has no connection)."""
    if c.event_dispatcher is not None:
        c.event_dispatcher.flush()
