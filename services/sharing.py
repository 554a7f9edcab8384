"""Share links: the owner issues and revokes them; anybody holding one sees the headshot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from config import get_settings
from media import get_storage
from media.storage import StorageNotFound, content_type_for_key
from models.events import EventName, record_event
from models.job import get_job
from models.shares import LinkState, resolve_share, revoke_shares, share_job
from services import flags
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


def share(*, user_id: int, job_id: int, lifetime_hours: int) -> ShareLink:
    """A new public link to the completed job; 403 feature_disabled when sharing is off for
    the user (§14)."""
    flags.require("share", user_id)
    with unit_of_work() as db_session:
        job = get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
        link = share_job(db_session, job, lifetime_hours=lifetime_hours)
        record_event(db_session, EventName.USER_SHARED, user_id=user_id,
                     generation_id=job_id, properties={"via": "link"})
        db_session.commit()
    return ShareLink(share_url(link.token), link.expires_at)


def unshare(*, user_id: int, job_id: int) -> None:
    """Revoke the headshot's link, if it has one (idempotent)."""
    with unit_of_work() as db_session:
        get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
        revoke_shares(db_session, job_id)
        db_session.commit()


def open_link(token: str) -> SharedImage:
    if not TOKEN_PATTERN.fullmatch(token):
        return SharedImage(LinkState.UNKNOWN)
    with read_only() as db_session:
        shared = resolve_share(db_session, token)
    if shared.job is None:
        return SharedImage(shared.state)
    return SharedImage(LinkState.LIVE, shared.job.style, shared.job.result_keys[0])


def image_store_origin(link: SharedImage) -> str | None:
    """The origin (`https://host[:port]`) the link's image is redirected to, or None when the
    web process serves it itself (local storage). Signing a URL is local: no request is made."""
    store_url = get_storage().presigned_url(link.image_key, ttl_seconds=60)
    if store_url is None:
        return None
    parts = urlsplit(store_url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class SharedImageFile:
    """Where a live link's image is: its bytes (local storage), or the object store's presigned
    URL for a few minutes (the web process then redirects, never carrying the bytes)."""

    content_type: str
    data: bytes | None = None
    store_url: str | None = None


def shared_image_file(link: SharedImage) -> SharedImageFile | None:
    """The image of a live link, or None if it is gone (deleted meanwhile)."""
    storage, key = get_storage(), link.image_key
    content_type = content_type_for_key(key)
    try:
        store_url = storage.presigned_url(key, ttl_seconds=get_settings().s3_presign_ttl_seconds)
        if store_url is None:
            return SharedImageFile(content_type, data=storage.get(key))
        return SharedImageFile(content_type, store_url=store_url) if storage.exists(key) else None
    except StorageNotFound:
        return None
