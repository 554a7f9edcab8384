"""How a client subscribes a device (§13): `GET /api/me`'s `push` gives the platforms whose
provider is set up and, with Web Push on, the VAPID public key a browser subscribes with (its
`applicationServerKey`): the one the run's Web Push service checks every push's signature
against, derived from VAPID_PRIVATE_KEY. Web Push off is `webPush: null`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from api.openapi import build_document
from config import get_settings, use_settings
from tests.integration.test_openapi import assert_conforms
from tests.support.push import PushFakes
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

WEB_PUSH_SETTINGS = ("vapid_private_key", "vapid_subject")
ALL_PUSH_SETTINGS = (*WEB_PUSH_SETTINGS, "fcm_credentials_file", "apns_key_file", "apns_key_id",
                     "apns_team_id", "apns_topic")


@pytest.fixture
def without() -> Iterator[Any]:
    """Run the test with some push settings unset (as an operator leaves them), then restore."""
    settings = get_settings()

    def unset(*names: str) -> None:
        use_settings(settings.model_copy(update=dict.fromkeys(names)))

    yield unset
    use_settings(settings)


def push_setup(client: Any) -> dict[str, Any]:
    response = client.get("/api/me", headers=auth(new_user_id()))
    assert response.status_code == 200, response.get_json()
    assert_conforms(build_document(client.application), "GET", "/api/me", response)
    setup: dict[str, Any] = response.get_json()["push"]
    return setup


def test_a_browser_gets_the_key_the_push_service_checks_signatures_with(
        client: Any, push_providers: PushFakes) -> None:
    setup = push_setup(client)

    assert setup == {"platforms": ["android", "ios", "web"],
                     "webPush": {"publicKey": push_providers.webpush.application_server_key}}
    key = setup["webPush"]["publicKey"]
    assert "=" not in key  # base64url without padding, as PushManager.subscribe takes it
    point = base64.urlsafe_b64decode(key + "=")
    assert len(point) == 65 and point[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve
    assert str(get_settings().vapid_private_key) not in str(setup)


def test_with_web_push_off_the_key_is_null_and_the_others_stay(client: Any, without: Any) -> None:
    without(*WEB_PUSH_SETTINGS)
    assert push_setup(client) == {"platforms": ["android", "ios"], "webPush": None}


def test_with_push_off_there_is_nothing_to_subscribe_to(client: Any, without: Any) -> None:
    without(*ALL_PUSH_SETTINGS)
    assert push_setup(client) == {"platforms": [], "webPush": None}
