"""Each user's status reads in the clock minute, counted in Redis a lease at a time.

The count is the status budget's (RATE_LIMIT_STATUS_PER_MINUTE): a user's n-th read in the
minute is refused once n passes the limit. Counting each read in Redis cost every poll a round
trip, even a poll the status mirror (services/status_mirror.py) answers from memory. So a web
process takes the user's next `lease_size` numbers from the shared counter at once (one INCRBY)
and hands them to that user's next reads itself.

Every number is handed out once across all processes, so no more reads than the limit ever
pass, however many processes and hosts serve the user. What a lease costs: the numbers a process
still holds when the minute turns are never used, so with P processes serving one user, that
user may be refused up to P × (lease_size - 1) reads early. The lease is a hundredth of the
limit (12 of 1200); a single process counts exactly.
"""

from __future__ import annotations

import threading

from config import get_settings, per_settings

LEASE_FRACTION = 100  # a lease is the limit / LEASE_FRACTION numbers, at least one


class PollBudget:
    """The leases this process holds, for the current minute: user id → (next, last) number."""

    def __init__(self, lease_size: int) -> None:
        self.lease_size = lease_size  # 0: reads are not counted (the budget is off)
        self._minute = -1
        self._leases: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def next_number(self, user_id: int, *, minute: int) -> int | None:
        """The user's next read number from the lease held, or None: take a lease (`leased`)."""
        if not self.lease_size:
            return 0
        with self._lock:
            self._turn_to(minute)
            held = self._leases.get(user_id)
            if held is None or held[0] > held[1]:
                return None
            number, last = held
            self._leases[user_id] = (number + 1, last)
            return number

    def leased(self, user_id: int, top: int, *, minute: int) -> int:
        """Hold the lease that ends at `top` (the counter after its INCRBY of `lease_size`),
        and hand out its first number."""
        with self._lock:
            self._turn_to(minute)
            first = top - self.lease_size + 1
            self._leases[user_id] = (first + 1, top)
            return first

    def _turn_to(self, minute: int) -> None:
        if minute != self._minute:  # a new minute: every count starts over
            self._minute, self._leases = minute, {}


@per_settings
def get_poll_budget() -> PollBudget:
    settings = get_settings()
    if not settings.rate_limit_enabled:
        return PollBudget(0)
    return PollBudget(max(1, settings.rate_limit_status_per_minute // LEASE_FRACTION))
