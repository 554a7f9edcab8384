"""Web Push (RFC 8030): the payload encrypted for the browser (RFC 8291, aes128gcm) and the
request signed with our VAPID key (RFC 8292), by pywebpush; POSTed to the subscription's
endpoint, which is the browser vendor's push service.

201 (or any 2xx) is accepted; 404 and 410 say the subscription is gone (the user revoked the
permission, the browser dropped it); 429 and 5xx are worth a retry.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from pywebpush import WebPushException, webpush

from config import get_settings
from models.devices import Device
from workers.push import Outcome, Sent, answered

TIMEOUT = 10.0  # seconds; a slow push service must not hold a worker thread for long
TTL_SECONDS = 24 * 3600  # how long the push service may hold it for an offline browser
GONE = {404, 410}
HOPELESS = {400, 403, 413}  # malformed, our VAPID key refused, too big: the same next time


def send(device: Device, notification: dict[str, Any]) -> Sent:
    settings = get_settings()
    assert settings.vapid_private_key and settings.vapid_subject
    subscription = {"endpoint": device.address,
                    "keys": {"p256dh": device.p256dh, "auth": device.auth}}
    # Topic: the push service keeps one undelivered message per topic, so a retry of one it
    # still holds replaces it instead of queueing a twin (RFC 8030 §5.4; base64url, <= 32).
    topic = notification["id"].removeprefix("msg_")[:32]
    # No redirects: the endpoint is the user's to choose, and a redirect could point the
    # worker at an address the endpoint rules refuse (models/devices.py: endpoint_problem).
    session = requests.Session()
    session.max_redirects = 0
    try:
        response = webpush(
            subscription, data=json.dumps(notification, separators=(",", ":")),
            vapid_private_key=settings.vapid_private_key,
            # aud (the endpoint's origin) and exp (12 h) are filled in by pywebpush.
            vapid_claims={"sub": settings.vapid_subject},
            content_encoding="aes128gcm", ttl=TTL_SECONDS, timeout=TIMEOUT,
            headers={"Topic": topic, "Urgency": "normal"}, requests_session=session,
        )
    except WebPushException as refused:
        status = refused.response.status_code if refused.response is not None else None
        if status is None:
            return Sent(Outcome.FAILED, str(refused)[:300])
        return _judged(status, refused.response.text if refused.response is not None else "")
    except requests.RequestException as error:
        return Sent(Outcome.FAILED, f"{type(error).__name__}: {error}"[:300])
    finally:
        session.close()
    assert isinstance(response, requests.Response)  # not curl=True's command line
    return _judged(response.status_code, response.text)


def _judged(status: int, text: str) -> Sent:
    if 200 <= status < 300:
        return Sent(Outcome.DELIVERED)
    if status in GONE:
        return Sent(Outcome.GONE, answered(status, text))
    if status in HOPELESS:
        return Sent(Outcome.ABANDONED, answered(status, text))
    return Sent(Outcome.FAILED, answered(status, text))
