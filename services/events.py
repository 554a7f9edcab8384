"""Behaviour events the app reports (API guide §7); the service's own are recorded with the
changes they describe (`models/job/changes.py`, sharing, export)."""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from datetime import date
from typing import Any

from redis import Redis, RedisError
from sqlalchemy.exc import SQLAlchemyError

from models import events as models_events
from models.clock import utcnow
from models.events import EventName, Source, record_event
from models.job import JobStatus, get_job
from services.redis_client import get_redis
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


def record_client_event(*, user_id: int, name: EventName, job_id: int | None,
                        properties: dict[str, Any]) -> None:
    """Record what the app saw; a headshot it names must be the user's own (else NotFound, as
    for one that does not exist: another user's id is not confirmed).

    The report is kept whatever the headshot's state; the funnel counts it only when the
    service can vouch for it: it names the user's own headshot, completed by now
    (models/events.py)."""
    vouched = False
    with unit_of_work() as db_session:
        if job_id is not None:
            job = get_job(db_session, user_id=user_id, job_id=job_id)
            vouched = job.status == JobStatus.COMPLETED
        record_event(db_session, name, user_id=user_id, generation_id=job_id,
                     properties=properties, source=Source.CLIENT, vouched=vouched)
        db_session.commit()


def record_history_view(*, user_id: int) -> None:
    with unit_of_work() as db_session:
        models_events.record_history_view(db_session, user_id=user_id)
        db_session.commit()


def record_download(*, user_id: int, job_id: int, properties: dict[str, Any]) -> None:
    """The service's own `headshot_downloaded`, for an export it served."""
    with unit_of_work() as db_session:
        record_event(db_session, EventName.HEADSHOT_DOWNLOADED, user_id=user_id,
                     generation_id=job_id, properties=properties)
        db_session.commit()


def record_downloads(*, user_id: int, job_ids: list[int], via: str) -> None:
    """The service's own `headshot_downloaded` for each of the user's headshots it served at
    once (`via`: `zip`, a batch's archive)."""
    with unit_of_work() as db_session:
        for job_id in job_ids:
            record_event(db_session, EventName.HEADSHOT_DOWNLOADED, user_id=user_id,
                         generation_id=job_id, properties={"via": via})
        db_session.commit()


# A day and a little: the Redis mark only spares the database the day's repeats of a result;
# the database's own check (once a headshot and UTC day) is the rule.
_SEEN_SECONDS = 26 * 3600
# And this process's memory of the results it noted today spares Redis the repeats it served
# itself (an image view refetches): the most recent ones, a bounded number.
_SEEN_HERE_MAX = 10_000
_seen_here: OrderedDict[tuple[date, str], None] = OrderedDict()
_seen_lock = threading.Lock()


def _first_here(day: date, storage_key: str) -> bool:
    with _seen_lock:
        if (day, storage_key) in _seen_here:
            return False
        _seen_here[(day, storage_key)] = None
        if len(_seen_here) > _SEEN_HERE_MAX:
            _seen_here.popitem(last=False)
        return True


@functools.cache
def _marks() -> Redis:
    return get_redis()  # one client and pool for the media route's marks, not one per image


def record_result_download(storage_key: str, *, status: int, range_header: str | None) -> None:
    """A result image served through its signed media URL (GET /media/...): its owner's
    download of the headshot, once a UTC day (`models/events.record_result_download`).

    The signed URL was issued to the owner only, so whoever fetches it fetches it for them.
    Thumbnails and originals are not downloads; neither is a 304, a failure or a range request
    past the first byte (the rest of a download already noted). Cheap for the hot route: this
    process's memory first, then one Redis SET NX a result and day; the database only the first
    time. Never the route's error: a lost note is a download missing from the figures, not a
    broken image."""
    kind, _, rest = storage_key.partition("/")
    owner = rest.partition("/")[0]
    first_bytes = range_header is None or range_header.replace(" ", "").startswith("bytes=0-")
    if kind != "results" or not owner.isdigit() or status not in (200, 206, 302) \
            or not first_bytes:
        return
    day = utcnow().date()
    if not _first_here(day, storage_key):
        return
    try:
        fresh = _marks().set(f"headshots:result-downloaded:{day}:{storage_key}", 1,
                             nx=True, ex=_SEEN_SECONDS)
    except RedisError:
        fresh = True  # the database's check still keeps it once a day
    if not fresh:
        return
    try:
        with unit_of_work() as db_session:
            models_events.record_result_download(db_session, user_id=int(owner),
                                                 result_key=storage_key)
            db_session.commit()
    except SQLAlchemyError:
        log.warning("could not note the download of %s", storage_key, exc_info=True)
