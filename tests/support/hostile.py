"""The hostile-input suite's bookkeeping: sending and counting inputs, and "nothing changed".

Every hostile request goes through `send` (in-process) or is counted with `tried` (over the
live server), so the session can report how many inputs were tried.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

TRIED: Counter[str] = Counter()


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


# ---- "nothing changed" -----------------------------------------------------------------------


def media_files() -> frozenset[str]:
    """Every stored image's key (and, with local storage, whatever else lies in MEDIA_ROOT)."""
    from config import get_settings
    from media import get_storage

    if get_settings().storage_backend != "local":
        return frozenset(get_storage().keys())
    root = Path(os.environ["MEDIA_ROOT"])
    if not root.exists():
        return frozenset()
    return frozenset(str(path.relative_to(root)) for path in root.rglob("*")
                     if path.is_file() or path.is_symlink())


def footprint(*user_ids: int, media: bool = True) -> dict[str, Any]:
    """What a hostile request must not change: rows of these users, every balance, the files."""
    from sqlalchemy import func, select

    from models.credits import CreditEntry
    from models.job.table import Job
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
                select(Job.id, Job.status,
                       Job.is_favorite, Job.retry_count,
                       Job.deleted_at, Job.result_keys)
                .where(Job.user_id == user_id)
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
