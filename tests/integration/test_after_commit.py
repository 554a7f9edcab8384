"""The one after-commit path: what a transaction changed reaches the status cache once it has
committed, in order, and never when it rolled back."""

from __future__ import annotations

from typing import cast

import pytest

from models.credits import grant_credits
from models.job import delete_job
from models.job.attempts import claim_job
from models.job.endings import fail_job
from models.job.snapshot import StatusSnapshot
from models.users import ensure_user
from services.redis_client import get_redis
from services.status_cache import get_status_cache
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, new_job
from tests.support.users import new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def cached(generation_id: int) -> StatusSnapshot | None:
    return get_status_cache().read(generation_id, reader=0)[0].snapshot


def queued_job_uncommitted() -> tuple[int, int]:
    """Creates a funded user and a job in a transaction that is rolled back: (user, job id)."""
    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=1, reason="test")
        db_session.commit()
    with unit_of_work() as db_session:
        job_id = new_job(db_session, user_id).id
        # not committed: the with block rolls it back
    return user_id, job_id


def test_a_rolled_back_change_is_never_published() -> None:
    _, job_id = queued_job_uncommitted()
    assert cached(job_id) is None


def test_each_committed_change_is_published_in_order() -> None:
    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=1, reason="test")
        job_id = new_job(db_session, user_id).id
        assert cached(job_id) is None  # not before the commit
        db_session.commit()
    after_create = cached(job_id)
    assert after_create is not None and after_create.status == "queued"

    with unit_of_work() as db_session:
        assert claim_job(db_session, job_id) is not None
        # rolled back: the claim never happened, the cache still says queued
    still = cached(job_id)
    assert still is not None and still.status == "queued"

    with unit_of_work() as db_session:  # two changes in one transaction: the last one shows
        assert claim_job(db_session, job_id) is not None
        assert fail_job(db_session, job_id, code="x", message="gave up") is not None
        db_session.commit()
    failed = cached(job_id)
    assert failed is not None and failed.status == "failed" and failed.error_code == "x"

    with unit_of_work() as db_session:
        delete_job(db_session, user_id=user_id, job_id=job_id)
        db_session.commit()
    assert cached(job_id) is None  # a deleted job's status is forgotten


def test_a_savepoint_neither_publishes_early_nor_drops_the_transactions_changes() -> None:
    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        grant_credits(db_session, user_id=user_id, amount=1, reason="test")
        job_id = new_job(db_session, user_id).id
        with db_session.begin_nested():  # released: not the outer commit
            pass
        assert cached(job_id) is None
        with pytest.raises(RuntimeError), db_session.begin_nested():  # rolled back
            raise RuntimeError("a savepoint's own failure")
        db_session.commit()
    published = cached(job_id)
    assert published is not None and published.status == "queued"


def test_a_poll_that_read_the_row_before_the_delete_cannot_bring_the_job_back() -> None:
    user_id = funded_user(1)
    with unit_of_work() as db_session:
        job_id = new_job(db_session, user_id).id
        db_session.commit()
    stale = cached(job_id)  # what a slow poll read from the row, before the delete
    assert stale is not None
    with unit_of_work() as db_session:
        delete_job(db_session, user_id=user_id, job_id=job_id)
        db_session.commit()
    get_status_cache().publish(stale)  # the slow poll's refill lands after the delete
    assert cached(job_id) is None


def test_the_jobs_of_one_transaction_are_all_published_in_their_order() -> None:
    user_id = funded_user(3)
    with unit_of_work() as db_session:  # a batch's jobs: published in one round trip
        job_ids = [new_job(db_session, user_id).id for _ in range(3)]
        db_session.commit()
    statuses = [get_status_cache().read(job_id, reader=0)[0] for job_id in job_ids]
    assert all(status.snapshot is not None and status.snapshot.status == "queued"
               for status in statuses)
    ranks = [status.jobs_ahead for status in statuses]
    assert all(rank is not None for rank in ranks), ranks
    assert ranks == sorted(rank or 0 for rank in ranks), ranks


def test_a_batch_is_published_even_when_redis_has_lost_the_script() -> None:
    get_redis().script_flush()  # as after a Redis restart: every script must be loaded again
    user_id = funded_user(2)
    with unit_of_work() as db_session:
        job_ids = [new_job(db_session, user_id).id for _ in range(2)]
        db_session.commit()
    snapshots = [cached(job_id) for job_id in job_ids]
    assert [s.status if s else None for s in snapshots] == ["queued", "queued"]


def script_exists_calls() -> int:
    stats = cast(dict[str, dict[str, int]], get_redis().info("commandstats"))
    return stats.get("cmdstat_script|exists", {}).get("calls", 0)


def test_a_batch_goes_out_without_asking_redis_for_its_script() -> None:
    user_id = funded_user(4)
    with unit_of_work() as db_session:  # the script is loaded by now (the first publish)
        new_job(db_session, user_id)
        db_session.commit()
    before = script_exists_calls()
    with unit_of_work() as db_session:
        job_ids = [new_job(db_session, user_id).id for _ in range(3)]
        db_session.commit()
    assert script_exists_calls() == before
    assert all(cached(job_id) is not None for job_id in job_ids)
