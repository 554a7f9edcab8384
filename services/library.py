"""The user's library: the styles on offer, their jobs (a favorite, a cancel, an export), and
deleting one or all of them with their files."""

from __future__ import annotations

from media import get_storage
from media.export import ExportedImage, export_image
from media.formats import ImageFormat
from media.off_loop import off_the_event_loop
from media.storage import StorageNotFound
from models import library as models_library
from models.errors import Conflict, NotFound
from models.feature_flags import style_flag
from models.job import Job, JobStatus, cancel_job, delete_job, get_job
from models.job.deletion import forget_user_media
from models.library import list_jobs
from models.styles import Style, list_styles
from services import flags
from services.cancel_budget import spend_if_processing
from services.events import record_download, record_history_view
from services.pagination import Page, one_page
from services.unit_of_work import read_only, unit_of_work


def styles(*, user_id: int) -> list[Style]:
    """The active styles on offer to the user: a style whose flag is off for them is left out
    (§14), as the app offers what the list holds."""
    with read_only() as db_session:
        offered = list_styles(db_session)
    return [style for style in offered if flags.is_enabled(style_flag(style.id), user_id)]


def job(*, user_id: int, job_id: int) -> Job:
    with read_only() as db_session:
        return get_job(db_session, user_id=user_id, job_id=job_id)


def history(*, user_id: int, limit: int, before_id: int | None = None,
            status: JobStatus | None = None, style: str | None = None,
            favorite: bool | None = None) -> Page[Job]:
    """A page of the user's jobs; opening the first page counts as viewing the history
    (the analytics' `historyViewRate`)."""
    if before_id is None:
        record_history_view(user_id=user_id)
    with read_only() as db_session:
        return one_page(
            lambda count: list_jobs(
                db_session, user_id=user_id, limit=count, before_id=before_id, status=status,
                style=style, favorite=favorite,
            ),
            limit=limit,
        )


def delete(*, user_id: int, job_id: int) -> None:
    """The row is hidden and its images unreferenced in one transaction (a running job is
    cancelled first); the files go after the commit (a file left behind by a crash in between
    is unreachable: no row points at it)."""
    with unit_of_work() as db_session:
        spend_if_processing(db_session, user_id=user_id, job_id=job_id)
        keys = delete_job(db_session, user_id=user_id, job_id=job_id)
        db_session.commit()
    _delete_files(keys)


def set_favorite(*, user_id: int, job_id: int, favorite: bool) -> Job:
    with unit_of_work() as db_session:
        found = models_library.set_favorite(
            db_session, user_id=user_id, job_id=job_id, favorite=favorite)
        db_session.commit()
        return found


def cancel(*, user_id: int, job_id: int) -> Job:
    with unit_of_work() as db_session:
        spend_if_processing(db_session, user_id=user_id, job_id=job_id)
        found = cancel_job(db_session, user_id=user_id, job_id=job_id)
        db_session.commit()
        return found


def delete_my_data(*, user_id: int) -> None:
    """Every stored image of the user goes (originals, previews, results, thumbnails) and their
    share links with them; their jobs leave their history; the ledger and the balance stay."""
    with unit_of_work() as db_session:
        keys = forget_user_media(db_session, user_id=user_id)
        db_session.commit()
    _delete_files(keys)


def _delete_files(keys: list[str]) -> None:
    storage = get_storage()
    for key in keys:
        storage.delete(key)


def export(*, user_id: int, job_id: int, fmt: ImageFormat, long_side: int | None,
           watermark: str | None) -> ExportedImage:
    """The completed job's (first) result in another format, size or with a watermark; 403
    feature_disabled when exports are off for the user (§14)."""
    flags.require("export", user_id)
    found = job(user_id=user_id, job_id=job_id)
    if found.status != JobStatus.COMPLETED or not found.result_keys:
        raise Conflict(f"only a completed headshot can be exported; this one is "
                       f"{found.status}", code="not_completed")
    try:
        source = get_storage().get(found.result_keys[0])
    except StorageNotFound:  # deleted a moment ago
        raise NotFound(f"headshot {job_id} not found") from None
    exported = off_the_event_loop(export_image, source, fmt=fmt, long_side=long_side,
                                  watermark=watermark)
    record_download(user_id=user_id, job_id=job_id,
                    properties={"via": "export", "format": fmt.extension,
                                "watermark": bool(watermark)})
    return exported
