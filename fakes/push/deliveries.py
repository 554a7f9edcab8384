"""What every fake push provider keeps: the attempts per message, the deliveries it accepted,
the devices that are gone, and how many first attempts of each message to fail."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("fakes.push")


@dataclass(frozen=True)
class Delivery:
    provider: str  # webpush, fcm, apns
    device: str  # the endpoint or token it went to
    notification: dict[str, Any]  # as the device would read it (decrypted, for Web Push)


class Deliveries:
    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.failures_per_message = 0  # answer 503 to this many first attempts of each message
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()  # notification id -> attempts seen
        self._accepted: list[Delivery] = []
        self._gone: set[str] = set()
        self.refused: list[str] = []  # why requests were refused (bad auth, bad shape)

    def kill(self, device: str) -> None:
        """From now on the device is gone (the app was removed, the permission revoked)."""
        with self._lock:
            self._gone.add(device)

    def is_gone(self, device: str) -> bool:
        with self._lock:
            gone = device in self._gone
        if gone:
            log.info("%s answered gone for %s...", self.provider, device[:40])
        return gone

    def refuse(self, why: str) -> None:
        with self._lock:
            self.refused.append(why)
        log.warning("%s refused a request: %s", self.provider, why)

    def attempt(self, device: str, notification: dict[str, Any]) -> bool:
        """Count an attempt; True to accept it (and record it), False to fail it."""
        message_id = str(notification.get("id"))
        with self._lock:
            self._attempts[message_id] += 1
            if self._attempts[message_id] <= self.failures_per_message:
                log.info("%s failing attempt %d of %s (as told)", self.provider,
                         self._attempts[message_id], message_id)
                return False
            self._accepted.append(Delivery(self.provider, device, notification))
        log.info("%s accepted %s %s for %s... (attempt %d)", self.provider,
                 notification.get("type"), message_id, device[:40],
                 self._attempts[message_id])
        return True

    def accepted(self) -> list[Delivery]:
        with self._lock:
            return list(self._accepted)

    def attempts(self, message_id: str) -> int:
        with self._lock:
            return self._attempts[message_id]

    def to(self, device: str) -> list[Delivery]:
        return [delivery for delivery in self.accepted() if delivery.device == device]
