"""The caller's push devices (§13): register one, forget one. The rules (one row per address,
at most MAX_DEVICES per user, the validity of endpoints, keys and tokens) are
`models/devices.py`'s; listing them is part of the account (`services/accounts.py`)."""

from __future__ import annotations

from models.devices import Platform, Registered, register_device, remove_device
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
