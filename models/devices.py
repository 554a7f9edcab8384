"""The devices a user receives push notifications on (§13): a browser's Web Push subscription,
an Android app's FCM registration token, an iOS app's APNs device token.

A device is one address on one platform (the subscription's endpoint, or the token): the same
address registered again is the same row, moved to whoever registered it last, because the
address belongs to the app install, and the install to the account signed in on it now (a
shared phone must not keep notifying the account that signed out). A user keeps at most
MAX_DEVICES: registering one more forgets the one seen least recently.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from config import get_settings
from models.base import Base
from models.clock import utcnow
from models.errors import NotFound
from models.outbox import Channel, EventType, add_event
from models.users import User, register_user

MAX_DEVICES = 10
MAX_ADDRESS_LENGTH = 2048  # a Web Push endpoint URL; FCM and APNs tokens are far shorter
MAX_TOKEN_LENGTH = 1024
# FCM registration tokens: URL-safe characters and `:`; about 160 today, undocumented length.
FCM_TOKEN = re.compile(r"[A-Za-z0-9_:.\-]{20,1024}")
# APNs device tokens: hex (32 bytes today; Apple says not to count on that).
APNS_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
P256DH_BYTES = 65  # an uncompressed P-256 point (0x04 || x || y), RFC 8291
AUTH_BYTES = 16  # the auth secret, RFC 8291
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Platform(enum.StrEnum):
    WEB = "web"  # Web Push (RFC 8030), any browser's push service
    ANDROID = "android"  # Firebase Cloud Messaging
    IOS = "ios"  # Apple Push Notification service


class Device(Base):
    __tablename__ = "push_devices"
    __table_args__ = (
        Index("uq_push_devices_platform_address", "platform", "address", unique=True),
        Index("ix_push_devices_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    platform: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))  # endpoint, or token
    p256dh: Mapped[str | None] = mapped_column(String(100))  # Web Push: the browser's key
    auth: Mapped[str | None] = mapped_column(String(50))  # Web Push: the auth secret
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def endpoint_problem(endpoint: str, *, allow_loopback: bool) -> str | None:
    """Why a Web Push endpoint is refused, or None. The worker POSTs to it: an https URL on
    port 443 of a DNS name (a push service), never an address literal or an internal name,
    which would make the worker a way into the private network; plain http only on loopback,
    and only when PUSH_ALLOW_LOOPBACK_ENDPOINTS says so (tests, a local push server)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "has an invalid port"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password"
    if allow_loopback and host in LOOPBACK_HOSTS and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "must be an https URL"
    if parts.port not in (None, 443):
        return "must use the https port (443)"
    try:
        ipaddress.ip_address(host)
        return "must name a push service by its DNS name, not an address"
    except ValueError:
        pass
    if "." not in host or host.endswith((".local", ".internal", ".localhost")):
        return "must name a public push service"
    return None


def key_problem(value: str, size: int) -> str | None:
    """Why a Web Push key (base64url, padded or not) is refused, or None."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        return "must be base64url"
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return "must be base64url"
    if len(raw) != size:
        return f"must decode to {size} bytes"
    if size == P256DH_BYTES and raw[0] != 4:
        return "must be an uncompressed P-256 point"
    return None


def token_problem(platform: Platform, token: str) -> str | None:
    """Why a device token is refused, or None."""
    pattern = FCM_TOKEN if platform is Platform.ANDROID else APNS_TOKEN
    if len(token) > MAX_TOKEN_LENGTH or not pattern.fullmatch(token):
        return ("must be an FCM registration token" if platform is Platform.ANDROID
                else "must be an APNs device token (hex)")
    return None


@dataclass(frozen=True)
class Registered:
    device: Device
    created: bool  # new to this user (201), or one it had registered already (200)


def register_device(db_session: Session, *, user_id: int, platform: Platform, address: str,
                    p256dh: str | None = None, auth: str | None = None) -> Registered:
    """Upsert the device for this user; forget the user's least recently seen ones past
    MAX_DEVICES. The user's row is locked first, so that a flood of registrations from one
    user is counted one at a time."""
    register_user(db_session, user_id=user_id)
    db_session.execute(select(User.id).where(User.id == user_id).with_for_update())
    now = utcnow()
    earlier = db_session.execute(
        select(Device.user_id).where(Device.platform == platform.value,
                                     Device.address == address)
    ).scalar_one_or_none()
    statement = insert(Device).values(user_id=user_id, platform=platform.value, address=address,
                                      p256dh=p256dh, auth=auth, created_at=now,
                                      last_seen_at=now)
    moved = earlier is not None and earlier != user_id
    updates = {"user_id": user_id, "p256dh": p256dh, "auth": auth, "last_seen_at": now}
    if moved:  # another account's until now: a new device to this one
        updates["created_at"] = now
    device = db_session.execute(
        statement.on_conflict_do_update(index_elements=["platform", "address"], set_=updates)
        .returning(Device)
        .execution_options(populate_existing=True)
    ).scalar_one()
    _forget_beyond_limit(db_session, user_id)
    return Registered(device, created=earlier != user_id)


def _forget_beyond_limit(db_session: Session, user_id: int) -> None:
    kept = (select(Device.id).where(Device.user_id == user_id)
            .order_by(Device.last_seen_at.desc(), Device.id.desc()).limit(MAX_DEVICES))
    db_session.execute(delete(Device).where(Device.user_id == user_id, Device.id.not_in(kept)))


def list_devices(db_session: Session, *, user_id: int) -> list[Device]:
    """The user's devices, oldest first (what /api/me lists, and support looks up)."""
    return list(db_session.scalars(
        select(Device).where(Device.user_id == user_id).order_by(Device.created_at, Device.id)))


def devices_on(db_session: Session, *, user_id: int,
               platforms: frozenset[Platform]) -> list[Device]:
    """The user's devices on the platforms push is on for."""
    if not platforms:
        return []
    return list(db_session.scalars(
        select(Device).where(Device.user_id == user_id,
                             Device.platform.in_([p.value for p in platforms]))
        .order_by(Device.id)))


def get_device(db_session: Session, device_id: int) -> Device | None:
    return db_session.get(Device, device_id)


def remove_device(db_session: Session, *, user_id: int, device_id: int) -> None:
    """The user's own device, forgotten; another user's (or none) is NotFound, alike."""
    removed = db_session.execute(
        delete(Device).where(Device.id == device_id, Device.user_id == user_id)
        .returning(Device.id)).scalar_one_or_none()
    if removed is None:
        raise NotFound("device not found")


def forget_gone_device(db_session: Session, device_id: int) -> bool:
    """The provider said the device no longer exists (unsubscribed, app removed)."""
    return db_session.execute(
        delete(Device).where(Device.id == device_id).returning(Device.id)
    ).scalar_one_or_none() is not None


def push_platforms() -> frozenset[Platform]:
    """The platforms whose provider is set up (config: Settings.push_platforms)."""
    return frozenset(Platform(name) for name in get_settings().push_platforms)


def add_push_events(db_session: Session, event_type: EventType, *, user_id: int,
                    generation_id: int | None = None,
                    batch_id: uuid.UUID | None = None) -> list[int]:
    """One outbox row per device of the user that push is on for, in the caller's transaction
    (the one that ends the job or batch); their ids, for the after-commit kick."""
    return [add_event(db_session, event_type, user_id=user_id, generation_id=generation_id,
                      batch_id=batch_id, channel=Channel.PUSH, device_id=device.id)
            for device in devices_on(db_session, user_id=user_id, platforms=push_platforms())]
