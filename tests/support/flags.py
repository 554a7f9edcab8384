"""Feature flags in tests (§14): set one through the admin route, and put every flag back to
its default (no row: on for everyone) so a test's flag never leaks into the next test."""

from __future__ import annotations

from typing import Any

from tests.support.users import auth, new_user_id


def put_flag(client: Any, name: str, **body: Any) -> dict[str, Any]:
    """PUT /api/admin/flags/<name> as an operator of its own (each has a rate budget)."""
    answer = client.put(f"/api/admin/flags/{name}", json=body,
                        headers=auth(new_user_id(), role="admin"))
    assert answer.status_code == 200, answer.get_json()
    flag: dict[str, Any] = answer.get_json()
    return flag


def reset_flags() -> None:
    """Delete every flag's row (the audit stays) and tell every process."""
    from sqlalchemy import delete

    from models.feature_flags import FeatureFlag
    from services.flag_table import announce_change
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        db_session.execute(delete(FeatureFlag))
        db_session.commit()
    announce_change()
