"""The completion webhooks' payloads (API guide §11), for the `webhooks` of the OpenAPI document.

`services/webhooks.py` builds each payload from the headshot or batch as the API returns it;
these models only describe it, as `api/responses.py` does for the routes' answers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.responses import Batch, Body, Headshot, Timestamp
from models.outbox import EventType

HeadshotEventType = Literal["headshot.completed", "headshot.failed", "headshot.cancelled"]
BatchEventType = Literal["batch.completed", "batch.partial", "batch.failed"]


class HeadshotEventData(Body):
    userId: int = Field(ge=1)
    headshot: Headshot


class HeadshotEvent(Body):
    """A headshot ended: completed, failed, or cancelled by its owner."""

    type: HeadshotEventType
    timestamp: Timestamp = Field(description="when it ended (ISO 8601 in UTC)")
    data: HeadshotEventData


class BatchEventData(Body):
    userId: int = Field(ge=1)
    batch: Batch


class BatchEvent(Body):
    """Every headshot of a batch ended: all completed, some (partial), or none."""

    type: BatchEventType
    timestamp: Timestamp = Field(description="when its last headshot ended (ISO 8601 in UTC)")
    data: BatchEventData


# event type -> (what it tells, the payload's model); one entry per `EventType`
WEBHOOKS: dict[str, tuple[str, type[Body]]] = {
    EventType.HEADSHOT_COMPLETED.value: ("A headshot completed", HeadshotEvent),
    EventType.HEADSHOT_FAILED.value: ("A headshot failed (its credits are refunded)",
                                      HeadshotEvent),
    EventType.HEADSHOT_CANCELLED.value: ("A headshot was cancelled by its owner (refunded)",
                                         HeadshotEvent),
    EventType.BATCH_COMPLETED.value: ("Every headshot of a batch completed", BatchEvent),
    EventType.BATCH_PARTIAL.value: ("A batch ended with some headshots completed, some failed",
                                    BatchEvent),
    EventType.BATCH_FAILED.value: ("Every headshot of a batch failed", BatchEvent),
}
