"""The caller's push devices (§13): register one, forget one. The rules (one row per address,
at most MAX_DEVICES per user, the validity of endpoints, keys and tokens) are
`models/devices.py`'s; listing them is part of the account (`services/accounts.py`)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config import get_settings
from models.devices import Platform, Registered, register_device, remove_device
from models.errors import NotFound
from services.unit_of_work import unit_of_work


def register(*, user_id: int, platform: Platform, address: str, p256dh: str | None = None,
             auth: str | None = None) -> Registered:
    """Register (or refresh) the device; `created` says whether it is new to this user."""
    with unit_of_work() as db_session:
        registered = register_device(db_session, user_id=user_id, platform=platform,
                                     address=address, p256dh=p256dh, auth=auth)
        db_session.commit()
        return registered


def forget(*, user_id: int, device_id: int) -> None:
    """Forget the user's device; another user's, or an unknown one, is NotFound alike."""
    with unit_of_work() as db_session:
        remove_device(db_session, user_id=user_id, device_id=device_id)
        db_session.commit()


def web_push_public_key() -> str:
    """The VAPID public key a browser subscribes with (its `applicationServerKey`): base64url
    of the uncompressed P-256 point matching VAPID_PRIVATE_KEY. Derived, not configured, so the
    two halves cannot disagree. NotFound while Web Push is off."""
    private = get_settings().vapid_private_key
    if not private:
        raise NotFound("Web Push is off on this service")
    scalar = int.from_bytes(base64.urlsafe_b64decode(private + "=" * (-len(private) % 4)), "big")
    point = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()
