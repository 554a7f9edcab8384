"""Share links: the owner issues and revokes them; anybody holding one sees the headshot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from config import get_settings
from media import get_storage
from media.storage import StorageNotFound, content_type_for_key
from models.events import EventName, record_event
from models.headshots import get_generation
from models.shares import LinkState, resolve_share, revoke_shares, share_generation
from services.unit_of_work import read_only, unit_of_work

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")  # what `secrets.token_urlsafe(24)` makes
SHARE_PATH = "/s/"


@dataclass(frozen=True)
class ShareLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class SharedImage:
    """What a live link shows: the headshot's first result."""

    state: LinkState
    style: str = ""
    image_key: str = ""


def share_url(token: str) -> str:
    return f"{get_settings().public_base_url}{SHARE_PATH}{token}"


def share(*, user_id: int, generation_id: int, lifetime_hours: int) -> ShareLink:
    with unit_of_work() as db_session:
        generation = get_generation(db_session, user_id=user_id, generation_id=generation_id,
                                    lock=True)
        link = share_generation(db_session, generation, lifetime_hours=lifetime_hours)
        record_event(db_session, EventName.USER_SHARED, user_id=user_id,
                     generation_id=generation_id, properties={"via": "link"})
        db_session.commit()
    return ShareLink(share_url(link.token), link.expires_at)


def unshare(*, user_id: int, generation_id: int) -> None:
    """Revoke the headshot's link, if it has one (idempotent)."""
    with unit_of_work() as db_session:
        get_generation(db_session, user_id=user_id, generation_id=generation_id, lock=True)
        revoke_shares(db_session, generation_id)
        db_session.commit()


def open_link(token: str) -> SharedImage:
    if not TOKEN_PATTERN.fullmatch(token):
        return SharedImage(LinkState.UNKNOWN)
    with read_only() as db_session:
        shared = resolve_share(db_session, token)
    if shared.generation is None:
        return SharedImage(shared.state)
    return SharedImage(LinkState.LIVE, shared.generation.style, shared.generation.result_keys[0])


def shared_image_bytes(link: SharedImage) -> tuple[bytes, str] | None:
    """The image of a live link, or None if its file is gone (deleted meanwhile)."""
    try:
        return get_storage().get(link.image_key), content_type_for_key(link.image_key)
    except StorageNotFound:
        return None
