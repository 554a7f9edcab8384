"""Another user's batch (API guide §2): the same 404 as a batch that does not exist, for every
batch route, and nothing changes; absurd batch ids never reach the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.submissions import submit_batch
from tests.support.domain import funded_user, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
BATCH_ROUTES = ("/api/headshots/batch/{batch_id}", "/api/headshots/batch/{batch_id}/download")


@pytest.fixture(scope="module")
def victims_batch(stack: dict[str, int]) -> tuple[int, str]:
    user_id = funded_user(5)
    accepted = submit_batch(user_id=user_id, email=None,
                            image_url=signed_url(stored_upload(user_id)),
                            style_ids=["corporate", "casual"], aspect_ratio="1:1")
    return user_id, str(accepted.batch_id)


def test_another_users_batch_is_the_same_404_as_a_missing_one(
        client: Any, victims_batch: tuple[int, str]) -> None:
    victim, batch_id = victims_batch
    attacker = funded_user(1)
    before = footprint(attacker, victim)
    for route in BATCH_ROUTES:
        answers = []
        for value in (batch_id, str(uuid.uuid4())):
            response = send(client, "get", route.format(batch_id=value), theme="foreign ids",
                            headers=auth(attacker))
            body = assert_error(response, 404, "not_found", context=route)
            answers.append(body["error"]["message"].replace(value, "{id}"))
        assert answers[0] == answers[1], f"{route} leaks existence: {answers}"
    assert_unchanged(before, footprint(attacker, victim), "foreign batches")


@pytest.mark.parametrize("value", [
    "1", "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1--",
    "0" * 5000, "00000000000000000000000000000000%0a",
])
def test_absurd_batch_ids_are_404(client: Any, value: str) -> None:
    user_id = funded_user(0)
    for route in BATCH_ROUTES:
        response = send(client, "get", route.format(batch_id=value), theme="foreign ids",
                        headers=auth(user_id))
        assert_error(response, 404, context=route)
