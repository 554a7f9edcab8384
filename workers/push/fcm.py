"""Firebase Cloud Messaging, HTTP v1 API: POST {FCM_ENDPOINT_URL}/v1/projects/{project}/
messages:send with an OAuth2 access token of the service account (FCM_CREDENTIALS_FILE).

google-auth signs the JWT-bearer grant with the account's key and asks its `token_uri` for the
token; the authorized session keeps it, refreshes it before it expires and once more when an
answer is 401. A 404 whose errorCode is UNREGISTERED says the app is gone from the device;
429 and 5xx are worth a retry; other 4xx (a malformed message, a token of another project)
would be refused again.
"""

from __future__ import annotations

from typing import Any

import requests
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from config import get_settings, per_settings
from models.devices import Device
from workers.push import Outcome, Sent, answered

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TIMEOUT = (5, 10)  # connect, read


@per_settings
def _session() -> tuple[AuthorizedSession, str]:
    """The process's authorized session and the send URL of the account's project."""
    settings = get_settings()
    assert settings.fcm_credentials_file
    credentials = service_account.Credentials.from_service_account_file(
        str(settings.fcm_credentials_file), scopes=[SCOPE])
    url = (f"{settings.fcm_endpoint_url.rstrip('/')}/v1/projects/"
           f"{credentials.project_id}/messages:send")
    return AuthorizedSession(credentials), url


def message(token: str, notification: dict[str, Any]) -> dict[str, Any]:
    """The v1 message: shown by Android (`notification`), read by the app (`data`, strings
    only); `collapse_key` lets FCM keep one of a retried message it still holds."""
    data = {key: str(value) for key, value in notification.items()}
    return {"message": {
        "token": token,
        "notification": {"title": notification["title"], "body": notification["body"]},
        "data": data,
        "android": {"collapse_key": notification["id"][:64]},
    }}


def send(device: Device, notification: dict[str, Any]) -> Sent:
    session, url = _session()
    try:
        response = session.post(url, json=message(device.address, notification),
                                timeout=TIMEOUT)
    except (requests.RequestException, OSError, GoogleAuthError) as error:
        # GoogleAuthError: the token endpoint refused or could not be reached
        return Sent(Outcome.FAILED, f"{type(error).__name__}: {error}"[:300])
    if response.status_code == 200:
        return Sent(Outcome.DELIVERED)
    if response.status_code == 404 and "UNREGISTERED" in _error_codes(response):
        return Sent(Outcome.GONE, answered(404, "UNREGISTERED"))
    if response.status_code == 429 or response.status_code >= 500:
        return Sent(Outcome.FAILED, answered(response.status_code, response.text))
    if response.status_code == 401:  # the session refreshed once already; try again later
        return Sent(Outcome.FAILED, answered(401, response.text))
    return Sent(Outcome.ABANDONED, answered(response.status_code, response.text))


def _error_codes(response: requests.Response) -> set[str]:
    """The FcmError codes of an error answer (`error.details[].errorCode`)."""
    try:
        details = response.json()["error"].get("details", [])
        return {str(detail.get("errorCode")) for detail in details if isinstance(detail, dict)}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()
