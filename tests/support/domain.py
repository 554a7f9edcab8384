"""Users, uploads and jobs set up directly through the domain layer, not through the routes.

For tests whose only request to a (rate-limited) write route must be the one under test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.assets import SELFIE
from tests.support.users import new_user_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from models.job.table import Job


def funded_user(credits: int = 5) -> int:
    from models.credits import grant_credits
    from models.users import ensure_user
    from services.unit_of_work import unit_of_work

    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        if credits:
            grant_credits(db_session, user_id=user_id, amount=credits, reason="hostile suite")
        db_session.commit()
    return user_id


def stored_upload(user_id: int, raw: bytes | None = None) -> str:
    """Upload a selfie for the user; returns its storage key."""
    from services.uploads import accept_upload

    return accept_upload(user_id=user_id, email=None,
                         raw=SELFIE.read_bytes() if raw is None else raw).storage_key


def signed_url(storage_key: str, **kwargs: Any) -> str:
    from media import get_signer

    return get_signer().sign(storage_key, **kwargs).url


def make_job(user_id: int, storage_key: str, outcome: str = "queued") -> dict[str, Any]:
    """A job of the user on that upload, left `queued`, `completed` (with stored result and
    thumbnail files) or `failed` (refunded). Returns its id and keys."""
    from sqlalchemy import select

    from media import get_storage
    from media.storage import new_key
    from models.job.attempts import claim_job, complete_job
    from models.job.creation import create_job
    from models.job.endings import fail_job
    from models.styles import get_active_style
    from models.uploads import Upload
    from services.unit_of_work import unit_of_work

    keys: dict[str, Any] = {"result": None, "thumbnail": None}
    with unit_of_work() as db_session:
        upload = db_session.execute(
            select(Upload).where(Upload.storage_key == storage_key)).scalar_one()
        generation = create_job(db_session, user_id=user_id, upload=upload,
                                       style=get_active_style(db_session, "corporate"),
                                       aspect_ratio="1:1")
        db_session.commit()
        job_id = generation.id
        if outcome != "queued":
            claimed = claim_job(db_session, job_id)
            assert claimed is not None
            if outcome == "completed":
                storage = get_storage()
                keys["result"] = new_key("results", user_id, "jpg", 0)
                keys["thumbnail"] = new_key("thumbnails", user_id, "jpg")
                for key in (keys["result"], keys["thumbnail"]):
                    storage.put(key, SELFIE.read_bytes(), "image/jpeg")
                final = complete_job(db_session, job_id, attempt=claimed.attempts,
                                            result_keys=[keys["result"]],
                                            thumbnail_key=keys["thumbnail"], metadata={})
            else:
                final = fail_job(db_session, job_id, code="getimg_rejected",
                                        message="the generator refused the photo")
            assert final is not None
            db_session.commit()  # the after-commit path publishes each state
    return {"id": job_id, **keys}


def new_job(db_session: Session, user_id: int) -> Job:
    """A `corporate` job of the (funded) user on an upload row with no file behind it, added to
    the session's transaction and charged there; the caller commits or not."""
    from media.storage import new_key
    from models.job.creation import create_job
    from models.styles import get_active_style
    from models.uploads import record_upload

    upload = record_upload(db_session, user_id=user_id,
                           storage_key=new_key("originals", user_id, "jpg"),
                           content_type="image/jpeg", size_bytes=1, width=64, height=64)
    return create_job(db_session, user_id=user_id, upload=upload,
                             style=get_active_style(db_session, "corporate"),
                             aspect_ratio="1:1")


def queued_job() -> tuple[int, int]:
    """A new user with one credit, and a job charged with it, committed and queued (no task
    published): (user id, job id)."""
    from services.unit_of_work import unit_of_work

    user_id = funded_user(1)
    with unit_of_work() as db_session:
        generation = new_job(db_session, user_id)
        db_session.commit()
    return user_id, generation.id


def job_row(generation_id: int) -> Job:
    """The job's row as committed now, detached from its session."""
    from models.job.table import Job
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        row = db_session.get(Job, generation_id)
        assert row is not None
        db_session.expunge(row)
        return row


def jobs_of(user_id: int) -> int:
    """How many generation rows the user has."""
    from sqlalchemy import func, select

    from models.job.table import Job
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(Job)
                                     .where(Job.user_id == user_id)) or 0)


def job_without_a_message(user_id: int, image_url: str, **state: Any) -> int:
    """A charged job past its deadline whose task message never reached (or was lost by) the
    broker: what the reaper is for. `state` overrides columns, e.g. `status="processing"`."""
    from datetime import timedelta

    from sqlalchemy import update

    from media import get_signer
    from models.clock import utcnow
    from models.job.creation import create_job
    from models.job.table import Job
    from models.styles import get_active_style
    from models.uploads import find_usable_upload
    from services.unit_of_work import unit_of_work

    key = get_signer().storage_key_from_url(image_url)
    assert key is not None
    with unit_of_work() as db_session:
        generation = create_job(
            db_session, user_id=user_id,
            upload=find_usable_upload(db_session, user_id=user_id, storage_key=key),
            style=get_active_style(db_session, "corporate"), aspect_ratio="1:1")
        db_session.flush()
        db_session.execute(update(Job)
                           .where(Job.id == generation.id)
                           .values(deadline_at=utcnow() - timedelta(seconds=1), **state))
        db_session.commit()
    return generation.id
