"""Feature flags (§14) in-process: the admin routes and their audit, `/api/me`'s features,
the styles list, and every route behind a flag answering 403 feature_disabled when it is off
for the caller, before anything is charged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason
from sqlalchemy import select

from models.audit import FlagChange
from services import flags
from services.unit_of_work import read_only
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.flags import put_flag, reset_flags
from tests.support.hostile import assert_unchanged, footprint
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
STYLES = ["corporate", "creative", "model", "casual"]


@pytest.fixture(autouse=True)
def _flags_back_to_defaults() -> Iterator[None]:
    reset_flags()
    yield
    reset_flags()


def test_the_admin_list_has_every_flag_untouched_ones_on_for_everyone(client: Any) -> None:
    answer = client.get("/api/admin/flags", headers=ADMIN)
    assert answer.status_code == 200
    listed = answer.get_json()["data"]
    names = [flag["name"] for flag in listed]
    assert names[:4] == ["batch", "export", "share", "push"]
    assert {f"style:{style}" for style in STYLES} <= set(names[4:])
    assert all(name.startswith("style:") for name in names[4:])
    assert listed[0] == {"name": "batch", "enabled": True, "percentage": 100, "users": [],
                         "updatedAt": None, "updatedBy": None}


def test_a_change_is_stored_answered_and_audited(client: Any) -> None:
    operator = new_user_id()
    answer = client.put("/api/admin/flags/style:creative", headers=auth(operator, role="admin"),
                        json={"enabled": True, "percentage": 10, "users": [42, 7, 42]})
    assert answer.status_code == 200, answer.get_json()
    flag = answer.get_json()
    assert {key: flag[key] for key in ("name", "enabled", "percentage", "users", "updatedBy")} \
        == {"name": "style:creative", "enabled": True, "percentage": 10, "users": [7, 42],
            "updatedBy": operator}
    listed = client.get("/api/admin/flags", headers=ADMIN).get_json()["data"]
    assert next(item for item in listed if item["name"] == "style:creative") == flag

    # Left out: kept. Only the switch flips.
    again = client.put("/api/admin/flags/style:creative", headers=auth(operator, role="admin"),
                       json={"enabled": False}).get_json()
    assert (again["enabled"], again["percentage"], again["users"]) == (False, 10, [7, 42])

    with read_only() as db_session:
        changes = list(db_session.scalars(
            select(FlagChange).where(FlagChange.operator_id == operator)
            .order_by(FlagChange.id)))
    assert [(c.flag_name, c.before, c.after) for c in changes] == [
        ("style:creative",
         {"enabled": True, "percentage": 100, "users": [], "stored": False},
         {"enabled": True, "percentage": 10, "users": [7, 42], "stored": True}),
        ("style:creative",
         {"enabled": True, "percentage": 10, "users": [7, 42], "stored": True},
         {"enabled": False, "percentage": 10, "users": [7, 42], "stored": True}),
    ]
    assert all(change.created_at is not None for change in changes)


def test_me_carries_every_flags_answer_for_the_caller(client: Any) -> None:
    listed_user, other_user = new_user_id(), new_user_id()
    put_flag(client, "share", enabled=True, percentage=0, users=[listed_user])
    put_flag(client, "push", enabled=False)
    mine = client.get("/api/me", headers=auth(listed_user)).get_json()["features"]
    theirs = client.get("/api/me", headers=auth(other_user)).get_json()["features"]
    assert mine == {"batch": True, "export": True, "share": True, "push": False,
                    **{name: True for name in mine if name.startswith("style:")}}
    assert {f"style:{style}" for style in STYLES} <= set(mine)
    assert theirs["share"] is False and theirs["push"] is False and theirs["batch"] is True


def test_the_openfeature_client_answers_with_the_reason(client: Any) -> None:
    user_id = new_user_id()
    of_client = openfeature.get_client(flags.DOMAIN)
    context = EvaluationContext(targeting_key=str(user_id))
    untouched = of_client.get_boolean_details("export", False, context)
    assert (untouched.value, untouched.reason) == (True, Reason.DEFAULT)
    put_flag(client, "export", enabled=True, percentage=0, users=[user_id])
    listed = of_client.get_boolean_details("export", False, context)
    assert (listed.value, listed.reason, listed.variant) == (True, Reason.TARGETING_MATCH, "on")
    put_flag(client, "export", enabled=False)
    off = of_client.get_boolean_details("export", True, context)
    assert (off.value, off.reason, off.variant) == (False, Reason.DISABLED, "off")
    # Not a user: the caller's default, with the error said.
    nobody = of_client.get_boolean_details("export", True, EvaluationContext())
    assert nobody.value is True and nobody.error_code is not None


def test_batch_off_is_403_feature_disabled_and_charges_nothing(client: Any) -> None:
    user_id = funded_user(10)
    url = signed_url(stored_upload(user_id))
    put_flag(client, "batch", enabled=False)
    before = footprint(user_id)
    answer = client.post("/api/headshots/batch", headers=auth(user_id),
                         json={"imageUrl": url, "styles": ["corporate", "creative"]})
    body = assert_error(answer, 403, "feature_disabled")
    assert "batch" in body["error"]["message"]
    assert_unchanged(before, footprint(user_id), "a batch with batches off")

    put_flag(client, "batch", enabled=True, percentage=0, users=[user_id])  # back for them
    accepted = client.post("/api/headshots/batch", headers=auth(user_id),
                           json={"imageUrl": url, "styles": ["corporate", "creative"]})
    assert accepted.status_code == 202, accepted.get_json()


def test_a_style_off_is_refused_in_generate_and_batch_and_left_out_of_the_list(
        client: Any) -> None:
    user_id = funded_user(10)
    url = signed_url(stored_upload(user_id))
    put_flag(client, "style:creative", enabled=False)
    before = footprint(user_id)
    generate = client.post("/api/headshots/generate", headers=auth(user_id),
                           json={"imageUrl": url, "style": "creative"})
    assert "style:creative" in assert_error(generate, 403, "feature_disabled")["error"]["message"]
    batch = client.post("/api/headshots/batch", headers=auth(user_id),
                        json={"imageUrl": url, "styles": ["corporate", "creative"]})
    assert_error(batch, 403, "feature_disabled")
    assert_unchanged(before, footprint(user_id), "a headshot of a style that is off")

    offered = [s["id"] for s in client.get("/api/headshots/styles",
                                           headers=auth(user_id)).get_json()["data"]]
    assert "creative" not in offered and "corporate" in offered
    # The other styles stay on: one is charged as usual.
    assert client.post("/api/headshots/generate", headers=auth(user_id),
                       json={"imageUrl": url, "style": "corporate"}).status_code == 202


def test_export_and_share_off_are_403_feature_disabled(client: Any) -> None:
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "completed")
    put_flag(client, "export", enabled=False)
    put_flag(client, "share", enabled=False)
    before = footprint(user_id)
    assert_error(client.get(f"/api/headshots/{job['id']}/export", headers=auth(user_id)),
                 403, "feature_disabled")
    assert_error(client.post(f"/api/headshots/{job['id']}/share", headers=auth(user_id),
                             json={}), 403, "feature_disabled")
    assert_unchanged(before, footprint(user_id), "export and share while off")

    reset_flags()
    assert client.get(f"/api/headshots/{job['id']}/export",
                      headers=auth(user_id)).status_code == 200
    assert client.post(f"/api/headshots/{job['id']}/share", headers=auth(user_id),
                       json={}).status_code == 201


def test_is_enabled_for_the_push_helper(client: Any) -> None:
    user_id = new_user_id()
    assert flags.is_enabled("push", user_id) is True
    put_flag(client, "push", enabled=True, percentage=0, users=[user_id])
    assert flags.is_enabled("push", user_id) is True
    assert flags.is_enabled("push", user_id + 1) is False
