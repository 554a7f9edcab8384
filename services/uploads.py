"""Accepting a selfie: sanitise it, store it, record it; nothing is kept if any step fails."""

from __future__ import annotations

from config import get_settings
from media import get_storage
from media.images import sanitize_upload
from media.storage import new_key
from models.uploads import Upload, record_upload
from models.users import ensure_user
from services.unit_of_work import unit_of_work


def accept_upload(*, user_id: int, email: str | None, raw: bytes) -> Upload:
    image = sanitize_upload(raw, max_bytes=get_settings().upload_max_bytes)
    key = new_key("originals", user_id, image.extension)
    storage = get_storage()
    storage.put(key, image.data, image.content_type)
    try:
        with unit_of_work() as db_session:
            ensure_user(db_session, user_id=user_id, email=email)
            upload = record_upload(
                db_session, user_id=user_id, storage_key=key, content_type=image.content_type,
                size_bytes=len(image.data), width=image.width, height=image.height,
            )
            db_session.commit()
    except BaseException:
        storage.delete(key)
        raise
    return upload
