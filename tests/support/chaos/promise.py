"""The end of every chaos scenario: every job finished, paid for once, and the app saw it so."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from devstack.waiting import wait_until
from tests.support.chaos.stack import ChaosStack
from tests.support.live import FINISHED

SUMMARY_LINES: list[str] = []  # printed by pytest_terminal_summary (tests/chaos/conftest.py)


@dataclass
class Summary:
    name: str
    jobs: int
    completed: int
    failed: int
    refunded: int
    lost: int
    seconds: float
    error_codes: Counter[str]

    @property
    def line(self) -> str:
        return (f"chaos {self.name}: jobs={self.jobs} completed={self.completed} "
                f"failed={self.failed} refunded={self.refunded} lost={self.lost} "
                f"({self.seconds:.1f} s)")


def wait_settled(stack: ChaosStack, timeout: float) -> None:
    """Until no job is queued or processing (PostgreSQL is the truth)."""
    try:
        wait_until(lambda: stack.db.in_flight() == 0, timeout=timeout, interval=0.25,
                   message="every job to finish")
    except TimeoutError:
        stuck = stack.db.rows(
            "SELECT id, status, attempts, progress, deadline_at, now() AS now, metadata "
            "FROM headshot_generations WHERE status IN ('queued', 'processing') ORDER BY id")
        raise AssertionError(f"chaos {stack.name}: jobs still in flight after {timeout} s "
                             f"({stack.log_dirs()}):\n" + "\n".join(map(str, stuck))) from None


def check_promise(stack: ChaosStack, *, timeout: float = 90) -> Summary:
    """Wait for every job to finish, then check the promise for each one.

    Every job is completed or failed; a failed job has exactly one refund in its round and a
    completed one none; every round was charged exactly once; every balance is the sum of its
    ledger and never negative; nobody's headshot was counted twice; every completed job's files
    are on disk; no answer was a 500; the progress the app saw never went down.
    """
    wait_settled(stack, timeout)
    watcher = stack.watcher
    assert watcher is not None
    # Let the watcher see each job's end (its last poll may be a moment behind).
    with contextlib.suppress(TimeoutError):
        wait_until(watcher.all_done, timeout=10, interval=0.1, message="the watcher")
    watcher.stop()

    jobs = stack.db.rows("SELECT id, user_id, status, retry_count, attempts, result_keys, "
                         "thumbnail_key, error_code, metadata FROM headshot_generations")
    ledger = stack.db.rows("SELECT user_id, generation_id, generation_round, type, amount "
                           "FROM credit_histories")
    users = stack.db.rows("SELECT id, credits, total_headshots_generated FROM users")

    entries: Counter[tuple[int, int, str]] = Counter()
    for entry in ledger:
        if entry["generation_id"] is not None:
            entries[(entry["generation_id"], entry["generation_round"], entry["type"])] += 1

    problems: list[str] = []
    bad_jobs: set[int] = set()

    def problem(job_id: int | None, text: str) -> None:
        problems.append(text)
        if job_id is not None:
            bad_jobs.add(job_id)

    completed_by_user: Counter[int] = Counter()
    for job in jobs:
        job_id, status, last_round = job["id"], job["status"], job["retry_count"]
        if status not in FINISHED:
            problem(job_id, f"job {job_id} ended {status}")
        for round_ in range(last_round + 1):
            charges = entries[(job_id, round_, "headshot")]
            if charges != 1:
                problem(job_id, f"job {job_id} round {round_} charged {charges} times")
            refunds = entries[(job_id, round_, "refund")]
            wanted = 1 if round_ < last_round or status == "failed" else 0
            if refunds != wanted:
                problem(job_id, f"job {job_id} ({status}) round {round_}: {refunds} refunds, "
                                f"expected {wanted}")
        if status == "completed":
            completed_by_user[job["user_id"]] += 1
            keys = [*(job["result_keys"] or []), *filter(None, [job["thumbnail_key"]])]
            if not job["result_keys"] or not job["thumbnail_key"]:
                problem(job_id, f"job {job_id} completed without results: {keys}")
            missing = [key for key in keys if not (stack.media_root / key).is_file()]
            if missing:
                problem(job_id, f"job {job_id} completed but its files are missing: {missing}")
    known_rounds = {(job["id"], round_) for job in jobs for round_ in range(job["retry_count"] + 1)}
    for (job_id, round_, kind), count in entries.items():
        if (job_id, round_) not in known_rounds:
            problem(job_id, f"ledger has {count} {kind} entries for job {job_id} round {round_}, "
                            "a round the job never had")

    ledger_sums: Counter[int] = Counter()
    for entry in ledger:
        ledger_sums[entry["user_id"]] += entry["amount"]
    for user in users:
        if user["credits"] != ledger_sums[user["id"]] or user["credits"] < 0:
            problem(None, f"user {user['id']}: credits {user['credits']}, ledger sum "
                          f"{ledger_sums[user['id']]}")
        if user["total_headshots_generated"] != completed_by_user[user["id"]]:
            problem(None, f"user {user['id']}: total_headshots_generated "
                          f"{user['total_headshots_generated']} but {completed_by_user[user['id']]}"
                          " completed jobs (a double completion?)")

    problems += watcher.progress_problems()
    for source, codes in (("status polls", watcher.codes),
                          ("harness calls", stack.server.status_codes)):
        if codes[500]:
            problems.append(f"{codes[500]} answers of 500 to the {source}: {dict(codes)}")
    if watcher.bad_answers:
        problems.append(f"{len(watcher.bad_answers)} status polls answered a 5xx other than a "
                        f"503 with the error body: {watcher.bad_answers[:5]}")
    assert stack.web is not None
    for web in (*stack.retired_webs, stack.web):
        if "unhandled error" in web.log_tail(10**7):
            problems.append(f"the {web.name} log has an unhandled error (a 500)")

    statuses = Counter(job["status"] for job in jobs)
    summary = Summary(
        name=stack.name, jobs=len(jobs), completed=statuses["completed"],
        failed=statuses["failed"],
        refunded=sum(1 for entry in ledger if entry["type"] == "refund"),
        lost=len(bad_jobs), seconds=time.monotonic() - stack.started_at,
        error_codes=Counter(job["error_code"] for job in jobs if job["status"] == "failed"),
    )
    SUMMARY_LINES.append(summary.line + ("" if not problems else " FAILED"))
    assert not problems, (f"chaos {stack.name}: the promise was broken ({stack.log_dirs()}):\n"
                          + "\n".join(problems[:40]))
    return summary


def processing_in_getimg(stack: ChaosStack) -> list[int]:
    """Jobs whose attempt is waiting on GetImg right now (stored progress at the 'waiting'
    milestone or its estimate, below 'received')."""
    return [row["id"] for row in stack.db.rows(
        "SELECT id FROM headshot_generations WHERE status = 'processing' "
        "AND progress >= 15 AND progress < 85 ORDER BY id")]


def poll(predicate: Callable[[], object], *, timeout: float, message: str) -> object:
    return wait_until(predicate, timeout=timeout, interval=0.1, message=message)
