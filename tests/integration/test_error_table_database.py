"""A uniqueness rule the database enforced is a 409 with the §3 body, never a 500."""

from __future__ import annotations

from typing import Any

from flask import Flask

from config import get_settings
from models.credits import refund_job_round
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, make_job, stored_upload


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
                refund_job_round(db_session, user_id=user_id, cost=1, generation_id=job["id"],
                                  generation_round=0, description="twice")
            db_session.commit()
        return "refunded twice"

    response = app.test_client().post("/test-only/refund-twice")
    assert response.status_code == 409, response.data
    assert response.get_json()["error"]["code"] == "already_charged_or_refunded"
