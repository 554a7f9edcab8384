"""A status poll that misses the cache reads PostgreSQL once per job, however many polls of that
job arrive while the read runs (services/status.py): the herd an expired key would draw."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import event, text

from devstack.waiting import wait_until
from models.db import get_engine
from models.errors import NotFound
from services import status
from services.poll_budget import PollBudget
from services.redis_client import get_redis
from services.status import read_status
from services.status_cache import status_key
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, new_job

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

POLLS = 12


@pytest.fixture
def job_reads() -> Iterator[list[str]]:
    """The statements that read a job's row, as this process sends them to PostgreSQL."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "headshot_generations" in statement:
            seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", note)
    yield seen
    event.remove(get_engine(), "before_cursor_execute", note)


@pytest.fixture(autouse=True)
def each_poll_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leases of one poll number: each poll counts itself in Redis as its read there runs, so
    the counter shows how many polls have missed the cache (services/poll_budget.py)."""
    monkeypatch.setattr(status, "get_poll_budget", lambda: PollBudget(1))


def _queued_job_not_cached() -> tuple[int, int]:
    user_id = funded_user(credits=5)
    with unit_of_work() as db_session:
        job_id = new_job(db_session, user_id).id
        db_session.commit()
    get_redis().delete(status_key(job_id))  # as when its key expired
    return user_id, job_id


def _polls_counted(user_id: int) -> int:
    redis = get_redis()
    counts = [cast(bytes | None, redis.get(key))
              for key in redis.scan_iter(f"headshots:polls:{user_id}:*")]
    return sum(int(count or 0) for count in counts)


def _waiting_on_locks() -> int:
    with get_engine().connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())


def test_polls_of_an_uncached_job_share_one_database_read(job_reads: list[str]) -> None:
    user_id, job_id = _queued_job_not_cached()
    answers: list[object] = []

    def poll() -> None:
        try:
            answers.append(read_status(user_id=user_id, job_id=job_id)[0])
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            answers.append(error)

    # The first read is held by a lock on the table until every poll has missed the cache.
    with get_engine().connect() as blocker:
        blocker.execute(text("LOCK TABLE headshot_generations IN ACCESS EXCLUSIVE MODE"))
        polls = [threading.Thread(target=poll) for _ in range(POLLS)]
        for thread in polls:
            thread.start()
        wait_until(lambda: _polls_counted(user_id) == POLLS, timeout=10,
                   message="every poll to miss the cache")
        wait_until(lambda: _waiting_on_locks() >= 1, timeout=10,
                   message="the refill to wait on the table")
        assert _waiting_on_locks() == 1
        blocker.rollback()
    for thread in polls:
        thread.join(timeout=10)
    assert len(answers) == POLLS
    assert all(getattr(answer, "id", None) == job_id for answer in answers), answers
    assert len(job_reads) == 1, job_reads
    # The refill is in the cache: the next poll reads no row.
    assert read_status(user_id=user_id, job_id=job_id)[0].status == "queued"
    assert len(job_reads) == 1


def test_a_waiting_poll_of_somebody_elses_job_gets_its_own_404() -> None:
    owner, job_id = _queued_job_not_cached()
    stranger = funded_user(credits=0)
    outcomes: dict[int, object] = {}

    def poll(user_id: int) -> None:
        try:
            outcomes[user_id] = read_status(user_id=user_id, job_id=job_id)[0].id
        except NotFound as error:
            outcomes[user_id] = error

    with get_engine().connect() as blocker:
        blocker.execute(text("LOCK TABLE headshot_generations IN ACCESS EXCLUSIVE MODE"))
        threads = [threading.Thread(target=poll, args=(user,)) for user in (owner, stranger)]
        for thread in threads:
            thread.start()
        wait_until(lambda: _polls_counted(owner) == 1 and _polls_counted(stranger) == 1,
                   timeout=10, message="both polls to miss the cache")
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes[owner] == job_id
    assert isinstance(outcomes[stranger], NotFound)
