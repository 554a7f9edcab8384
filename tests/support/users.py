"""Test users: fresh ids, and the JWTs that sign them in (API guide §2)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

# The session's settings sign with this secret (tests/support/session.py); the chaos stacks
# each have one of their own and pass it as `secret`.
TEST_JWT_SECRET = "test-secret-" + uuid.uuid4().hex


def new_user_id() -> int:
    """A user id no other test uses: tests share the session's database."""
    return int(uuid.uuid4().int % 10**15) + 1000


def make_token(user_id: int | str, *, role: str | None = None, expires_in: int = 3600,
               secret: str = TEST_JWT_SECRET, **claims: Any) -> str:
    payload: dict[str, Any] = {"sub": str(user_id), "exp": int(time.time()) + expires_in, **claims}
    if role:
        payload["role"] = role
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(user_id: int | str, **kwargs: Any) -> dict[str, str]:
    """The `Authorization` header of the user; `kwargs` as `make_token`'s."""
    return {"Authorization": f"Bearer {make_token(user_id, **kwargs)}"}


ADMIN = auth(1, role="admin")
