"""The flag rule (§14): percentage rollout by a stable hash of the user's id, the allow-list,
the kill switch, and the default of a flag nobody set."""

from __future__ import annotations

import hashlib

from models.feature_flags import BUCKETS, FlagState, bucket

USERS = range(1, 10_001)


def _rolled_out(name: str, percentage: int) -> set[int]:
    flag = FlagState(name, enabled=True, percentage=percentage, users=frozenset())
    return {user_id for user_id in USERS if flag.is_on_for(user_id)}


def test_the_bucket_is_the_documented_hash() -> None:
    # docs/api.md §14: sha256("<flag name>:<user id>"), first 8 bytes big-endian, mod 10,000.
    for name, user_id in (("batch", 1), ("style:corporate", 987654321012), ("push", 42)):
        digest = hashlib.sha256(f"{name}:{user_id}".encode()).digest()
        assert bucket(name, user_id) == int.from_bytes(digest[:8], "big") % 10_000
        assert 0 <= bucket(name, user_id) < BUCKETS


def test_a_flag_at_10_percent_is_on_for_about_a_tenth_of_users_the_same_ones_every_time(
) -> None:
    chosen = _rolled_out("export", 10)
    assert 900 <= len(chosen) <= 1100, len(chosen)
    assert _rolled_out("export", 10) == chosen  # stable: no randomness, no process state
    assert chosen == {user_id for user_id in USERS if bucket("export", user_id) < 1000}


def test_different_flags_pick_different_users() -> None:
    export, share = _rolled_out("export", 10), _rolled_out("share", 10)
    assert 900 <= len(share) <= 1100
    # Independent picks overlap on about a tenth of a tenth, not on the whole tenth.
    assert 50 <= len(export & share) <= 150, len(export & share)


def test_raising_the_percentage_only_adds_users() -> None:
    at_10, at_50, at_100 = (_rolled_out("batch", p) for p in (10, 50, 100))
    assert at_10 < at_50 < at_100 == set(USERS)
    assert 4800 <= len(at_50) <= 5200
    assert _rolled_out("batch", 0) == set()


def test_the_allow_list_is_on_whatever_the_percentage_but_not_when_disabled() -> None:
    listed = FlagState("share", enabled=True, percentage=0, users=frozenset({7, 11}))
    assert [user_id for user_id in USERS if listed.is_on_for(user_id)] == [7, 11]
    switched_off = FlagState("share", enabled=False, percentage=100, users=frozenset({7}))
    assert not any(switched_off.is_on_for(user_id) for user_id in USERS)


def test_a_flag_nobody_set_is_on_for_everyone() -> None:
    untouched = FlagState.default("style:creative")
    assert untouched.updated_at is None
    assert all(untouched.is_on_for(user_id) for user_id in USERS)
