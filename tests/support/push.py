"""This run's push credentials (made once, in the run directory) and the settings that point
the service at the fake providers of fakes/push/ on this run's ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fakes.push.apns import FakeApns
from fakes.push.credentials import (
    VapidKeys,
    service_account_email,
    vapid_keys,
    write_apns_key,
    write_service_account,
    write_tls_certificate,
)
from fakes.push.fcm import FakeFcm
from fakes.push.webpush import FakeWebPush

FCM_PROJECT = "headshots-test"
APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "DEF123GHIJ"
APNS_TOPIC = "ai.headshots.app"


@dataclass(frozen=True)
class PushCredentials:
    vapid: VapidKeys
    fcm_file: Path
    fcm_public: rsa.RSAPublicKey
    apns_key_file: Path
    apns_public: ec.EllipticCurvePublicKey
    tls_cert: Path
    tls_key: Path

    @property
    def fcm_email(self) -> str:
        return service_account_email(self.fcm_file)


def make_push_credentials(directory: Path, ports: dict[str, int]) -> PushCredentials:
    directory.mkdir(parents=True, exist_ok=True)
    fcm_file = directory / "fcm-service-account.json"
    fcm_public = write_service_account(fcm_file, project_id=FCM_PROJECT,
                                       token_uri=f"http://127.0.0.1:{ports['fcm']}/token")
    apns_key_file = directory / f"AuthKey_{APNS_KEY_ID}.p8"
    apns_public = write_apns_key(apns_key_file)
    tls_cert, tls_key = directory / "apns-cert.pem", directory / "apns-key.pem"
    write_tls_certificate(tls_cert, tls_key)
    return PushCredentials(vapid_keys(), fcm_file, fcm_public, apns_key_file, apns_public,
                           tls_cert, tls_key)


def push_settings(credentials: PushCredentials, ports: dict[str, int]) -> dict[str, Any]:
    """Every provider on, each at its fake."""
    return {
        "vapid_private_key": credentials.vapid.private,
        "vapid_subject": "mailto:push@headshots.test",
        "fcm_credentials_file": credentials.fcm_file,
        "fcm_endpoint_url": f"http://127.0.0.1:{ports['fcm']}",
        "apns_key_file": credentials.apns_key_file,
        "apns_key_id": APNS_KEY_ID,
        "apns_team_id": APNS_TEAM_ID,
        "apns_topic": APNS_TOPIC,
        "apns_endpoint_url": f"https://localhost:{ports['apns']}",
        "apns_ca_file": credentials.tls_cert,
        "push_allow_loopback_endpoints": True,
    }


@dataclass(frozen=True)
class PushFakes:
    webpush: FakeWebPush
    fcm: FakeFcm
    apns: FakeApns

    @property
    def all(self) -> tuple[FakeWebPush, FakeFcm, FakeApns]:
        return self.webpush, self.fcm, self.apns
