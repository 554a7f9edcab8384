"""Apple Push Notification service over HTTP/2 with token auth: POST {APNS_ENDPOINT_URL}/3/device/
{token}, `authorization: bearer <provider JWT>`.

The provider token is an ES256 JWT of the team (iss, iat) and the key (kid), signed with the .p8
key; Apple refuses one older than an hour and one renewed more often than every 20 minutes, so
each process keeps its own for REFRESH_AFTER. A 410 (`Unregistered`) says the app is gone from
the device; 429, 5xx and an expired provider token (403) are worth a retry; other 4xx would be
refused again.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from typing import Any

import httpx
import jwt

from config import get_settings, per_settings
from models.devices import Device
from workers.push import Outcome, Sent, answered

REFRESH_AFTER = 40 * 60.0  # seconds: under the hour Apple allows, over its 20-minute floor
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
EXPIRY_SECONDS = 24 * 3600  # how long APNs may hold it for an offline device


class ProviderToken:
    """The provider JWT, signed anew once it is REFRESH_AFTER old (thread-safe)."""

    def __init__(self, key_pem: bytes, key_id: str, team_id: str) -> None:
        self._key, self._key_id, self._team_id = key_pem, key_id, team_id
        self._lock = threading.Lock()
        self._token = ""
        self._issued = 0.0

    def current(self, *, renew: bool = False) -> str:
        with self._lock:
            now = time.time()
            if renew or not self._token or now - self._issued >= REFRESH_AFTER:
                self._token = jwt.encode({"iss": self._team_id, "iat": int(now)}, self._key,
                                         algorithm="ES256", headers={"kid": self._key_id})
                self._issued = now
            return self._token


@per_settings
def _client() -> tuple[httpx.Client, ProviderToken]:
    settings = get_settings()
    assert settings.apns_key_file and settings.apns_key_id and settings.apns_team_id
    trust = ssl.create_default_context()
    if settings.apns_ca_file:
        trust.load_verify_locations(cafile=str(settings.apns_ca_file))
    client = httpx.Client(http2=True, verify=trust, timeout=TIMEOUT,
                          base_url=settings.apns_endpoint_url.rstrip("/"))
    token = ProviderToken(settings.apns_key_file.read_bytes(), settings.apns_key_id,
                          settings.apns_team_id)
    return client, token


def body(notification: dict[str, Any]) -> dict[str, Any]:
    """What iOS shows (`aps.alert`) and the app reads (the notification's own fields)."""
    fields = {key: value for key, value in notification.items()
              if key not in ("title", "body")}
    return {"aps": {"alert": {"title": notification["title"], "body": notification["body"]},
                    "sound": "default"}, **fields}


def send(device: Device, notification: dict[str, Any]) -> Sent:
    settings = get_settings()
    assert settings.apns_topic
    client, token = _client()
    headers = {
        "apns-topic": settings.apns_topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(time.time()) + EXPIRY_SECONDS),
        # The same on every retry: APNs reports it back, and collapses a retried alert the
        # device has not shown yet into the one it holds.
        "apns-id": str(uuid.UUID(hex=notification["id"].removeprefix("msg_"))),
        "apns-collapse-id": notification["id"][:64],
    }
    path = f"/3/device/{device.address}"
    try:
        response = client.post(path, json=body(notification),
                               headers={**headers, "authorization": f"bearer {token.current()}"})
        if response.status_code == 403 and _reason(response) == "ExpiredProviderToken":
            response = client.post(path, json=body(notification), headers={
                **headers, "authorization": f"bearer {token.current(renew=True)}"})
    except httpx.HTTPError as error:
        return Sent(Outcome.FAILED, f"{type(error).__name__}: {error}"[:300])
    status = response.status_code
    if status == 200:
        return Sent(Outcome.DELIVERED)
    reason = _reason(response)
    if status == 410:
        return Sent(Outcome.GONE, answered(410, reason))
    if status in (403, 429) or status >= 500:
        return Sent(Outcome.FAILED, answered(status, reason))
    return Sent(Outcome.ABANDONED, answered(status, reason))


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        return ""
