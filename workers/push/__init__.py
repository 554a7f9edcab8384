"""The push providers (§13), one module each: Web Push (`webpush`), FCM HTTP v1 (`fcm`), APNs
(`apns`). Each sends one notification to one device and says how it went; the retries, and
forgetting a device reported gone, are `services/push.py`'s.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config import get_settings
from models.devices import Device, Platform


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # the provider accepted it
    GONE = "gone"  # the provider says the device no longer exists: forget it, stop
    FAILED = "failed"  # try again later
    ABANDONED = "abandoned"  # no use trying again (nothing to send to, refused for good)


@dataclass(frozen=True)
class Sent:
    outcome: Outcome
    error: str | None = None


Sender = Callable[[Device, dict[str, Any]], Sent]


def sender_for(platform: Platform) -> Sender | None:
    """The platform's sender, or None while its provider is not set up."""
    if platform.value not in get_settings().push_platforms:
        return None
    if platform is Platform.WEB:
        from workers.push import webpush

        return webpush.send
    if platform is Platform.ANDROID:
        from workers.push import fcm

        return fcm.send
    from workers.push import apns

    return apns.send


def answered(status: int, detail: str = "") -> str:
    """The error a provider's answer is recorded as (the outbox's `last_error`)."""
    return f"HTTP {status}" + (f": {detail[:200]}" if detail else "")
