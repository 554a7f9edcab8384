"""The user's library: the styles on offer, their headshots, and deleting one."""

from __future__ import annotations

from media import get_storage
from media.export import ExportedImage, export_image
from media.formats import ImageFormat
from media.off_loop import off_the_event_loop
from media.storage import StorageNotFound
from models import headshots as models_headshots
from models.errors import Conflict, NotFound
from models.generations import GenerationStatus, HeadshotGeneration
from models.headshots import delete_generation, get_generation, list_generations
from models.styles import Style, list_styles
from services.events import record_download, record_history_view
from services.pagination import Page, one_page
from services.unit_of_work import read_only, unit_of_work


def styles() -> list[Style]:
    with read_only() as db_session:
        return list_styles(db_session)


def headshot(*, user_id: int, generation_id: int) -> HeadshotGeneration:
    with read_only() as db_session:
        return get_generation(db_session, user_id=user_id, generation_id=generation_id)


def history(*, user_id: int, limit: int, before_id: int | None = None,
            status: GenerationStatus | None = None, style: str | None = None,
            favorite: bool | None = None) -> Page[HeadshotGeneration]:
    """A page of the user's headshots; opening the first page counts as viewing the history
    (the analytics' `historyViewRate`)."""
    if before_id is None:
        record_history_view(user_id=user_id)
    with read_only() as db_session:
        return one_page(
            lambda count: list_generations(
                db_session, user_id=user_id, limit=count, before_id=before_id, status=status,
                style=style, favorite=favorite,
            ),
            limit=limit,
        )


def delete_headshot(*, user_id: int, generation_id: int) -> None:
    """The row is hidden and its images unreferenced in one transaction (a running job is
    cancelled first); the files go after the commit (a file left behind by a crash in between
    is unreachable: no row points at it)."""
    with unit_of_work() as db_session:
        keys = delete_generation(db_session, user_id=user_id, generation_id=generation_id)
        db_session.commit()
    _delete_files(keys)


def set_favorite(*, user_id: int, generation_id: int, favorite: bool) -> HeadshotGeneration:
    with unit_of_work() as db_session:
        generation = models_headshots.set_favorite(
            db_session, user_id=user_id, generation_id=generation_id, favorite=favorite)
        db_session.commit()
        return generation


def cancel(*, user_id: int, generation_id: int) -> HeadshotGeneration:
    with unit_of_work() as db_session:
        generation = models_headshots.cancel(db_session, user_id=user_id,
                                             generation_id=generation_id)
        db_session.commit()
        return generation


def delete_my_data(*, user_id: int) -> None:
    """Every stored image of the user goes (originals, previews, results, thumbnails) and their
    share links with them; their headshots leave their history; the ledger and the balance stay."""
    with unit_of_work() as db_session:
        keys = models_headshots.forget_user_media(db_session, user_id=user_id)
        db_session.commit()
    _delete_files(keys)


def _delete_files(keys: list[str]) -> None:
    storage = get_storage()
    for key in keys:
        storage.delete(key)


def export(*, user_id: int, generation_id: int, fmt: ImageFormat, long_side: int | None,
           watermark: str | None) -> ExportedImage:
    """The completed headshot's (first) result in another format, size or with a watermark."""
    generation = headshot(user_id=user_id, generation_id=generation_id)
    if generation.status != GenerationStatus.COMPLETED or not generation.result_keys:
        raise Conflict(f"only a completed headshot can be exported; this one is "
                       f"{generation.status}", code="not_completed")
    try:
        source = get_storage().get(generation.result_keys[0])
    except StorageNotFound:  # deleted a moment ago
        raise NotFound(f"headshot {generation_id} not found") from None
    exported = off_the_event_loop(export_image, source, fmt=fmt, long_side=long_side,
                                  watermark=watermark)
    record_download(user_id=user_id, generation_id=generation_id,
                    properties={"format": fmt.extension, "watermark": bool(watermark)})
    return exported
