"""The status mirror (services/status_mirror.py) and the poll budget's leases
(services/poll_budget.py): a poll of a job that is not queued answered from this process's
memory, never older than a change its client was told of, and nothing answered while the
subscription is broken; no more status reads than the budget across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import cast

import pytest
from redis import Redis

from config import get_settings
from devstack.waiting import wait_until
from models.errors import NotFound
from models.job.snapshot import StatusSnapshot
from services.library import delete
from services.poll_budget import PollBudget
from services.redis_client import get_redis
from services.status import read_status
from services.status_cache import StatusCache, get_status_cache, status_key, status_updates
from services.status_mirror import StatusMirror, get_status_mirror
from services.submissions import resubmit_job
from tests.support.domain import funded_user, job_row, make_job, queued_job, stored_upload

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


@pytest.fixture
def mirror() -> Iterator[StatusMirror]:
    """A mirror of its own, following the test Redis on a thread until the test ends."""
    mirror = StatusMirror(seconds=30)
    stopped = threading.Event()
    listener = threading.Thread(target=mirror.listen, daemon=True, kwargs={
        "redis": get_redis(), "still_wanted": lambda: not stopped.is_set()})
    listener.start()
    wait_until(lambda: mirror.changes() is not None, timeout=10, message="subscribed")
    yield mirror
    stopped.set()
    listener.join(timeout=5)


def _process_mirror() -> StatusMirror:
    mirror = get_status_mirror()
    assert mirror is not None  # on by default (STATUS_MIRROR_SECONDS=30)
    wait_until(lambda: mirror.changes() is not None, timeout=10, message="subscribed")
    return mirror


def _completed_job() -> tuple[int, int]:
    return _ended_job("completed")


def _failed_job() -> tuple[int, int]:
    return _ended_job("failed")


def _ended_job(outcome: str) -> tuple[int, int]:
    """(user id, job id) of a new user's job, ended `completed` or `failed` (refunded)."""
    user_id = funded_user(credits=1)
    return user_id, make_job(user_id, stored_upload(user_id), outcome)["id"]


def _mirrored(mirror: StatusMirror, job_id: int, status: str) -> StatusSnapshot:
    wait_until(lambda: (held := mirror.get(job_id, now=time.time())) is not None
               and held.status == status, timeout=10, message=f"job {job_id} {status}")
    held = mirror.get(job_id, now=time.time())
    assert held is not None
    return held


def _status_reads() -> int:
    """Commands a status read can send Redis (the script calls, GETs, counts), all time."""
    stats = cast(dict[str, dict[str, int]], get_redis().info("commandstats"))
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0)
               for name in ("evalsha", "eval", "get", "incrby", "zrank"))


def test_each_published_change_is_learned_as_committed(mirror: StatusMirror) -> None:
    user_id, job_id = _completed_job()
    assert _mirrored(mirror, job_id, "completed") == StatusSnapshot.of(job_row(job_id))


def test_a_mirrored_job_is_polled_without_a_redis_command() -> None:
    mirror = _process_mirror()
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    read_status(user_id=user_id, job_id=job_id)  # takes the user's first lease
    before = _status_reads()
    answers = [read_status(user_id=user_id, job_id=job_id)[0] for _ in range(5)]
    assert _status_reads() == before
    assert {answer.status for answer in answers} == {"completed"}
    # Somebody else's poll of it is never answered from memory: the database says 404.
    with pytest.raises(NotFound):
        read_status(user_id=user_id + 1, job_id=job_id)


def test_a_queued_job_is_never_answered_from_memory(mirror: StatusMirror) -> None:
    user_id, job_id = queued_job()
    snapshot = StatusSnapshot.of(job_row(job_id))
    mirror.offer(snapshot, changes_seen=mirror.changes())
    get_status_cache().publish(snapshot)
    time.sleep(0.2)  # what the listener could have learned by now: nothing it may answer
    assert mirror.get(job_id, now=time.time()) is None


def test_a_retried_job_is_polled_as_queued_at_once() -> None:
    """The app retries a failed job and polls at once: never the failure from before."""
    mirror = _process_mirror()
    for _ in range(5):
        user_id, job_id = _failed_job()
        _mirrored(mirror, job_id, "failed")
        resubmit_job(user_id=user_id, email=None, job_id=job_id)
        assert read_status(user_id=user_id, job_id=job_id)[0].status == "queued"


def test_a_deleted_job_is_forgotten_at_once() -> None:
    mirror = _process_mirror()
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    delete(user_id=user_id, job_id=job_id)
    with pytest.raises(NotFound):
        read_status(user_id=user_id, job_id=job_id)
    assert mirror.get(job_id, now=time.time()) is None


def test_a_change_waiting_in_the_socket_stops_answers_from_memory(mirror: StatusMirror) -> None:
    user_id, job_id = _failed_job()
    _mirrored(mirror, job_id, "failed")
    mirror._reading = True  # the listener between taking the change and applying it
    assert mirror.get(job_id, now=time.time()) is None
    mirror._reading = False
    assert mirror.get(job_id, now=time.time()) is not None


def test_a_read_that_raced_a_change_is_not_kept(mirror: StatusMirror) -> None:
    user_id, job_id = _failed_job()
    failed = _mirrored(mirror, job_id, "failed")
    mark = mirror.changes()  # a poll starts reading Redis here...
    user_2, job_2 = _completed_job()  # ...a change of any job arrives meanwhile...
    _mirrored(mirror, job_2, "completed")
    resubmit_job(user_id=user_id, email=None, job_id=job_id)
    wait_until(lambda: mirror.get(job_id, now=time.time()) is None, timeout=10,
               message="the retry learned")
    mirror.offer(failed, changes_seen=mark)  # ...so what it read is not kept
    assert mirror.get(job_id, now=time.time()) is None
    mirror.offer(StatusSnapshot.of(job_row(job_2)), changes_seen=mirror.changes())
    assert mirror.get(job_2, now=time.time()) is not None  # a read with no change meanwhile


def test_an_entry_is_answered_for_status_mirror_seconds_only(mirror: StatusMirror) -> None:
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    assert mirror.get(job_id, now=time.time() + 29) is not None
    assert mirror.get(job_id, now=time.time() + 31) is None


def test_a_broken_subscription_forgets_everything_until_it_is_back(mirror: StatusMirror
                                                                   ) -> None:
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    before = mirror.changes()
    get_redis().client_kill_filter(_type="pubsub")
    wait_until(lambda: mirror.changes() != before, timeout=10, message="the break noticed")
    assert mirror.get(job_id, now=time.time()) is None  # forgotten
    wait_until(lambda: mirror.changes() is not None, timeout=10, message="subscribed again")
    assert mirror.get(job_id, now=time.time()) is None  # and not learned back
    user_2, job_2 = _completed_job()
    _mirrored(mirror, job_2, "completed")


def test_leases_never_let_more_reads_through_than_the_budget() -> None:
    """Three processes' budgets sharing one user's counter, reads spread across them."""
    limit = 120
    budgets = [PollBudget(7) for _ in range(3)]  # leases of 7, the limit no multiple of it
    user_id, minute = 10_000_000 + int(time.time()) % 100_000, int(time.time() // 60) + 10
    cache = get_status_cache()
    numbers = []
    for read in range(200):
        budget = budgets[read % 3]
        number = budget.next_number(user_id, minute=minute)
        if number is None:
            top = cache.count_polls(reader=user_id, minute=minute, lease=budget.lease_size)
            assert top is not None
            number = budget.leased(user_id, top, minute=minute)
        numbers.append(number)
    assert len(set(numbers)) == len(numbers)  # each number handed out once
    let_through = [number for number in numbers if number <= limit]
    assert len(let_through) <= limit
    # What the leases cost: at most (lease - 1) unused numbers per process.
    assert len(let_through) >= limit - 3 * 6


def test_changes_published_on_another_database_are_not_heard(mirror: StatusMirror) -> None:
    """Channels belong to the server, not to one of its databases: a deployment on another
    database of the same Redis must not put its job of the same id into this one's mirror."""
    other_database = Redis.from_url(get_settings().redis_url.rsplit("/", 1)[0] + "/1")
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    theirs = replace(StatusSnapshot.of(job_row(job_id)), status="failed",
                     progress_at=time.time() + 60, error_code="getimg_rejected")
    StatusCache(other_database).publish(theirs)
    user_2, job_2 = _completed_job()  # published after theirs, so heard after it
    _mirrored(mirror, job_2, "completed")
    held = mirror.get(job_id, now=time.time())
    assert held is not None and held.status == "completed"
    other_database.delete(status_key(job_id))


def test_a_stream_of_a_job_ends_when_the_job_is_deleted() -> None:
    user_id, job_id = _completed_job()
    updates = status_updates(job_id, timeout=300)
    drained = threading.Thread(target=lambda: list(updates), daemon=True)
    drained.start()
    delete(user_id=user_id, job_id=job_id)
    drained.join(timeout=10)
    assert not drained.is_alive()  # ended by the deletion, not by its 300-s lifetime


def test_a_socket_closed_under_a_poll_is_no_answer_and_no_error(mirror: StatusMirror) -> None:
    """A reconnect may close the subscription's socket while a poll (on another thread) looks
    at it: that poll reads Redis instead, and the mirror subscribes again."""
    user_id, job_id = _completed_job()
    _mirrored(mirror, job_id, "completed")
    connection = mirror._connection
    assert connection is not None and connection._sock is not None
    before = mirror.changes()
    connection._sock.close()  # what a reconnect does to the old socket
    assert mirror.get(job_id, now=time.time()) is None
    wait_until(lambda: mirror.changes() not in (None, before), timeout=10,
               message="subscribed again")
    user_2, job_2 = _completed_job()
    _mirrored(mirror, job_2, "completed")  # following again
