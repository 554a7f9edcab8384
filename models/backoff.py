"""How long to wait before trying again: the one backoff rule for every retry of the service.

Each attempt doubles the wait, up to a ceiling, and the wait is drawn at random from the upper
half of that step (jitter), so many jobs or deliveries that failed together (GetImg down, a
receiver restarting) do not all come back at the same moment. Used by a job's GetImg attempts
(`workers/attempt.py`) and by webhook deliveries (`services/webhooks.py`), each with its own
first step and ceiling.
"""

from __future__ import annotations

import random

# Past this many doublings the step is past any ceiling in use; capping the exponent keeps
# the arithmetic small for an attempt count that has grown large (a day of webhook retries).
MAX_DOUBLINGS = 30


def backoff_seconds(attempt: int, *, first: float, ceiling: float) -> float:
    """The wait before try number `attempt + 1`, `attempt` (from 1) having just failed: drawn
    from [step / 2, step], where step is `first` doubled per attempt after the first, never
    past `ceiling`."""
    step = min(ceiling, first * 2 ** min(max(attempt, 1) - 1, MAX_DOUBLINGS))
    return random.uniform(step / 2, step)
