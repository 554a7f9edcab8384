"""Behaviour events the app reports (contract §7); the service's own are recorded with the
changes they describe (`models/job/changes.py`, sharing, export)."""

from __future__ import annotations

from typing import Any

from models import events as models_events
from models.events import EventName, Source, record_event
from models.job import JobStatus, get_job
from services.unit_of_work import unit_of_work


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
