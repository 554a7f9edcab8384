"""Accepting a selfie: sanitise it, store it and its before preview, record it; nothing is kept
if any step fails."""

from __future__ import annotations

from config import get_settings
from media import get_storage
from media.images import sanitize_upload_with_preview
from media.storage import new_key
from media.work_processes import in_a_work_process
from models.uploads import Upload, record_upload
from models.users import ensure_user
from services.unit_of_work import unit_of_work

PREVIEW_LONG_SIDE = 512


def accept_upload(*, user_id: int, email: str | None, raw: bytes) -> Upload:
    # In a child process of the web's (media/work_processes.py): an image at the limits costs
    # seconds of CPU, which must not hold the web process's other requests.
    image, preview = in_a_work_process(sanitize_upload_with_preview, raw,
                                       preview_long_side=PREVIEW_LONG_SIDE,
                                       max_bytes=get_settings().upload_max_bytes)
    key = new_key("originals", user_id, image.extension)
    preview_key = new_key("previews", user_id, "jpg")
    storage = get_storage()
    try:
        storage.put(key, image.data, image.content_type)
        storage.put(preview_key, preview.data, "image/jpeg")
        with unit_of_work() as db_session:
            ensure_user(db_session, user_id=user_id, email=email)
            upload = record_upload(
                db_session, user_id=user_id, storage_key=key, preview_key=preview_key,
                preview_size=(preview.width, preview.height),
                content_type=image.content_type, size_bytes=len(image.data),
                width=image.width, height=image.height,
            )
            db_session.commit()
    except BaseException:
        storage.delete(key)
        storage.delete(preview_key)
        raise
    return upload
