"""The GetImg limit shared by every worker (services/getimg_slots.py), against real Redis:
never more holders than GETIMG_MAX_CONCURRENCY, a dead holder's slot freed when its lease
runs out, renewal keeping a live one, and GetImg's pause honoured by everyone."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from config import get_settings, use_settings
from devstack.waiting import wait_until
from services import getimg_slots
from services.redis_client import get_redis

pytestmark = pytest.mark.usefixtures("stack")
LIMIT = 3


@pytest.fixture(autouse=True)
def slot_settings() -> Iterator[None]:
    """A limit of 3 and a lease short enough to watch it run out, long enough that a busy
    machine's pause between two renewals (0.1 s apart) never outlasts it."""
    original = get_settings()
    use_settings(original.model_copy(update={"getimg_max_concurrency": LIMIT,
                                             "job_lease_seconds": 2.0,
                                             "job_lease_renew_seconds": 0.1}))
    get_redis().delete(getimg_slots.HOLDERS_KEY, getimg_slots.PAUSE_KEY)
    try:
        yield
    finally:
        get_redis().delete(getimg_slots.HOLDERS_KEY, getimg_slots.PAUSE_KEY)
        use_settings(original)


def test_no_more_holders_than_the_limit() -> None:
    holders = [getimg_slots.new_holder() for _ in range(LIMIT + 1)]
    assert all(getimg_slots.try_acquire(holder) for holder in holders[:LIMIT])
    assert not getimg_slots.try_acquire(holders[LIMIT])
    assert getimg_slots.try_acquire(holders[0])  # a holder asking again keeps its one slot
    assert getimg_slots.holders_now() == LIMIT
    getimg_slots.release(holders[0])
    assert getimg_slots.try_acquire(holders[LIMIT])


def test_a_dead_holders_slot_frees_itself_and_a_renewed_one_stays() -> None:
    alive, dead = getimg_slots.new_holder(), getimg_slots.new_holder()
    others = [getimg_slots.new_holder() for _ in range(LIMIT - 2)]
    for holder in (alive, dead, *others):
        assert getimg_slots.try_acquire(holder)
    newcomer = getimg_slots.new_holder()
    assert not getimg_slots.try_acquire(newcomer)

    def renew_alive() -> bool:
        assert getimg_slots.renew([alive]) == 1, "a renewed slot was lost"
        return getimg_slots.try_acquire(newcomer)

    # `dead` (and the others) stop renewing: their leases run out, `alive`'s never does.
    wait_until(renew_alive, timeout=10, interval=0.1, message="the dead holder's slot")
    assert getimg_slots.renew([dead]) == 0  # gone for good: renewing does not bring it back


def test_acquire_waits_for_a_slot_then_gives_up() -> None:
    holders = [getimg_slots.new_holder() for _ in range(LIMIT)]
    for holder in holders:
        assert getimg_slots.try_acquire(holder)
        getimg_slots.renew([holder])
    waiter = getimg_slots.new_holder()
    assert not getimg_slots.acquire(waiter, timeout=0.1)

    releaser = threading.Timer(0.2, getimg_slots.release, args=[holders[0]])
    releaser.start()
    try:
        assert getimg_slots.acquire(waiter, timeout=10)
    finally:
        releaser.cancel()


def test_many_threads_never_exceed_the_limit() -> None:
    lock = threading.Lock()
    in_flight, peak, calls = 0, 0, 0

    def call_getimg_a_few_times() -> None:
        nonlocal in_flight, peak, calls
        for _ in range(5):
            holder = getimg_slots.new_holder()
            assert getimg_slots.acquire(holder, timeout=30)
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            threading.Event().wait(0.01)  # the "call"
            with lock:
                in_flight -= 1
                calls += 1
            getimg_slots.release(holder)

    threads = [threading.Thread(target=call_getimg_a_few_times) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert calls == 60
    assert 1 <= peak <= LIMIT


def test_a_pause_holds_everyone_and_is_never_shortened() -> None:
    getimg_slots.pause(30)
    getimg_slots.pause(1)  # a shorter Retry-After later does not end the longer pause
    assert getimg_slots.paused_for() > 20
    assert getimg_slots.holders_now() == 0
    assert not getimg_slots.acquire(getimg_slots.new_holder(), timeout=0.2)  # slots are free
    assert not getimg_slots.try_acquire(getimg_slots.new_holder())
    assert getimg_slots.holders_now() == 0  # a paused try takes nothing
    get_redis().delete(getimg_slots.PAUSE_KEY)
    assert getimg_slots.acquire(getimg_slots.new_holder(), timeout=1)
