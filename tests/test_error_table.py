"""One table decides each domain error's HTTP status; a uniqueness rule the database enforced
is a 409 with the §3 body, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from api.errors import ERROR_STATUS, http_status
from config import get_settings
from media.images import ImageRejected, ImageTooLarge, InvalidImage, UnsupportedImage
from models.credits import refund_generation
from models.errors import (
    Conflict,
    DomainError,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    OriginalExpired,
    ServiceUnavailable,
)
from services.unit_of_work import unit_of_work
from tests.hostile.support import funded_user, make_job, stored_upload


def _all_subclasses(kind: type[DomainError]) -> set[type[DomainError]]:
    found = set(kind.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


@pytest.mark.parametrize(("error", "status", "code"), [
    (InvalidRequest("x"), 400, "invalid_request"),
    (InvalidImage("x"), 400, "invalid_image"),
    (InsufficientCredits("x"), 402, "insufficient_credits"),
    (NotFound("x"), 404, "not_found"),
    (Conflict("x", code="not_failed"), 409, "not_failed"),
    (OriginalExpired(), 409, "original_expired"),
    (ImageTooLarge("x"), 413, "image_too_large"),
    (UnsupportedImage("x"), 415, "unsupported_media_type"),
    (ServiceUnavailable("x"), 503, "service_unavailable"),
])
def test_each_domain_error_has_one_status(error: DomainError, status: int, code: str) -> None:
    assert (http_status(error), error.code) == (status, code)


def test_every_domain_error_class_is_covered_by_the_table() -> None:
    for kind in _all_subclasses(DomainError) - {ImageRejected}:
        assert any(issubclass(kind, listed) for listed in ERROR_STATUS), kind


def test_a_uniqueness_violation_is_a_409(stack: Any, ledger_invariant: None) -> None:
    """Refunding one round twice, as two racing operators would: the database's partial unique
    index refuses the second, and the client gets a 409, not a 500."""
    from api import create_app

    app: Flask = create_app(get_settings())
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "queued")

    @app.post("/test-only/refund-twice")
    def refund_twice() -> str:
        with unit_of_work() as db_session:
            for _ in range(2):
                refund_generation(db_session, user_id=user_id, cost=1, generation_id=job["id"],
                                  generation_round=0, description="twice")
            db_session.commit()
        return "refunded twice"

    response = app.test_client().post("/test-only/refund-twice")
    assert response.status_code == 409, response.data
    assert response.get_json()["error"]["code"] == "already_charged_or_refunded"
