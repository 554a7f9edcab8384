"""Helpers of the hostile-input suite: sending, the §3 error check, and "nothing changed".

Every hostile request goes through `send` (in-process) or is counted with `tried` (over the
live server), so the session can report how many inputs were tried. Users, uploads and jobs
are set up directly through the domain layer, not through the (rate-limited) routes, so a
hostile test's only request to a write route is the hostile one.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.routing import Rule

from tests.api_calls import SELFIE

TRIED: Counter[str] = Counter()
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def tried(theme: str, count: int = 1) -> None:
    TRIED[theme] += count


def random_address() -> str:
    """A fresh client address per request, so per-address limits never turn a 401 into a 429."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def send(client: Any, method: str, path: str, *, theme: str, **kwargs: Any) -> Any:
    """One hostile request through the in-process test client (counted)."""
    tried(theme)
    environ = {"REMOTE_ADDR": random_address(), **kwargs.pop("environ_base", {})}
    return client.open(path, method=method.upper(), environ_base=environ, **kwargs)


# ---- the §3 error shape ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


def reply_of(response: Any) -> Reply:
    """A werkzeug test response, a `requests` response or an `http.client` one, alike."""
    if hasattr(response, "status_code") and hasattr(response, "data"):  # werkzeug
        return Reply(response.status_code, response.headers.get("Content-Type", ""),
                     {k.lower(): v for k, v in response.headers.items()}, response.data)
    if hasattr(response, "status_code"):  # requests
        return Reply(response.status_code, response.headers.get("Content-Type", ""),
                     {k.lower(): v for k, v in response.headers.items()}, response.content)
    body = response.read()  # http.client
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Reply(response.status, headers.get("content-type", ""), headers, body)


def assert_error(response: Any, status: int, code: str | None = None,
                 field: str | None = None, *, context: object = "") -> dict[str, Any]:
    """The response is exactly `{"error": {"code", "message"}}` with `status`.

    `field` must be named in the message (contract §3: 400 names the offending field).
    """
    answer = reply_of(response)
    where = f"{context!r}: " if context != "" else ""
    assert answer.status == status, f"{where}expected {status}, got {answer.status}: " \
        f"{answer.body[:300]!r}"
    assert answer.content_type.startswith("application/json"), \
        f"{where}not JSON ({answer.content_type}): {answer.body[:300]!r}"
    body = json.loads(answer.body)
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}{body}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, f"{where}{body}"
    assert isinstance(error["code"], str) and SNAKE_CASE.fullmatch(error["code"]), \
        f"{where}{body}"
    assert isinstance(error["message"], str) and error["message"], f"{where}{body}"
    if code is not None:
        assert error["code"] == code, f"{where}{body}"
    if field is not None:
        assert field in error["message"], f"{where}{field!r} not named in {body}"
    if status == 429:
        assert "retry-after" in answer.headers, f"{where}429 without Retry-After"
    return body


def error_failures(response: Any, status: int, code: str | None = None,
                   field: str | None = None, *, context: object = "") -> list[str]:
    """Like `assert_error`, but returns the problem instead of raising (for loops over routes)."""
    try:
        assert_error(response, status, code, field, context=context)
    except (AssertionError, ValueError) as problem:
        return [str(problem).splitlines()[0]]
    return []


# ---- "nothing changed" -----------------------------------------------------------------------


def media_files() -> frozenset[str]:
    root = Path(os.environ["MEDIA_ROOT"])
    if not root.exists():
        return frozenset()
    return frozenset(str(path.relative_to(root)) for path in root.rglob("*")
                     if path.is_file() or path.is_symlink())


def footprint(*user_ids: int, media: bool = True) -> dict[str, Any]:
    """What a hostile request must not change: rows of these users, every balance, the files."""
    from sqlalchemy import func, select

    from models.credits import CreditEntry
    from models.generations import HeadshotGeneration
    from models.uploads import Upload
    from models.users import User
    from services.unit_of_work import unit_of_work

    state: dict[str, Any] = {}
    with unit_of_work() as db_session:
        state["users"] = db_session.scalar(select(func.count()).select_from(User))
        for user_id in user_ids:
            user = db_session.get(User, user_id)
            state[f"user {user_id}"] = None if user is None else (
                user.credits, user.total_headshots_generated, user.total_credits_spent)
            state[f"uploads {user_id}"] = db_session.scalar(
                select(func.count()).select_from(Upload).where(Upload.user_id == user_id))
            state[f"ledger {user_id}"] = sorted(db_session.execute(
                select(CreditEntry.id, CreditEntry.amount).where(CreditEntry.user_id == user_id)
            ).all())
            state[f"jobs {user_id}"] = sorted(db_session.execute(
                select(HeadshotGeneration.id, HeadshotGeneration.status,
                       HeadshotGeneration.is_favorite, HeadshotGeneration.retry_count,
                       HeadshotGeneration.deleted_at, HeadshotGeneration.result_keys)
                .where(HeadshotGeneration.user_id == user_id)
            ).all(), key=lambda row: row[0])
    if media:
        state["media"] = media_files()
    return state


def assert_unchanged(before: dict[str, Any], after: dict[str, Any], context: object = "") -> None:
    changed: dict[str, Any] = {
        key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()
        if before.get(key) != after.get(key)}
    if "media" in changed:
        old, new = before["media"], after["media"]
        changed["media"] = {"added": sorted(new - old)[:10], "removed": sorted(old - new)[:10]}
    assert not changed, f"{context!r} changed state: {changed}"


# ---- setting up users, uploads and jobs without going through the routes ---------------------


def funded_user(credits: int = 5) -> int:
    from models.credits import grant_credits
    from models.users import ensure_user
    from services.unit_of_work import unit_of_work
    from tests.conftest import new_user_id

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
    from models.jobs import (
        claim_generation,
        complete_generation,
        create_generation,
        fail_generation,
    )
    from models.styles import get_active_style
    from models.uploads import Upload
    from services.unit_of_work import unit_of_work

    keys: dict[str, Any] = {"result": None, "thumbnail": None}
    with unit_of_work() as db_session:
        upload = db_session.execute(
            select(Upload).where(Upload.storage_key == storage_key)).scalar_one()
        generation = create_generation(db_session, user_id=user_id, upload=upload,
                                       style=get_active_style(db_session, "corporate"),
                                       aspect_ratio="1:1")
        db_session.commit()
        job_id = generation.id
        if outcome != "queued":
            claimed = claim_generation(db_session, job_id)
            assert claimed is not None
            if outcome == "completed":
                storage = get_storage()
                keys["result"] = new_key("results", user_id, "jpg", 0)
                keys["thumbnail"] = new_key("thumbnails", user_id, "jpg")
                for key in (keys["result"], keys["thumbnail"]):
                    storage.put(key, SELFIE.read_bytes(), "image/jpeg")
                final = complete_generation(db_session, job_id, attempt=claimed.attempts,
                                            result_keys=[keys["result"]],
                                            thumbnail_key=keys["thumbnail"], metadata={})
            else:
                final = fail_generation(db_session, job_id, code="getimg_rejected",
                                        message="the generator refused the photo")
            assert final is not None
            db_session.commit()  # the after-commit path publishes each state
    return {"id": job_id, **keys}


# ---- routes ----------------------------------------------------------------------------------


PARAMETER = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def route_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - SKIPPED_METHODS)


def default_value(rule: Rule, name: str) -> str:
    """A well-formed value for a path parameter, by its converter."""
    converter = type(rule._converters[name]).__name__  # noqa: SLF001
    return {"IdConverter": "1", "IntegerConverter": "1",
            "UUIDConverter": "00000000-0000-4000-8000-000000000001"}.get(converter, "x")


def path_of(rule: Rule, values: dict[str, str] | None = None) -> str:
    values = values or {}
    return PARAMETER.sub(lambda m: values.get(m.group(2), default_value(rule, m.group(2))),
                         rule.rule)
