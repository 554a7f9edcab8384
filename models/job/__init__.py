"""The job: one headshot job, one row of the table headshot_generations, and every rule that
moves it.

    create ──▶ queued ──claim──▶ processing ──complete──▶ completed
                 ▲                   │
                 ├─── requeue ◀──────┤  a transient fault: the attempt is spent
                 ├─── give back ◀────┤  not the job's fault: the attempt is not spent
                 │                   │
                 │                   └──fail──▶ failed  (refunded in the same transaction)
                 │   queued or processing ──cancel──▶ failed  (the owner's; refunded)
                 └─── retry ◀── failed  (the owner's: a new round, charged again)

    delete: from any state (an in-flight job is cancelled first); the row is hidden.

The reaper takes over an overdue job (past its deadline, or its attempt's lease ran out): back
to queued while it has attempts left, else failed (`timed_out`, refunded); a give-back past
its round's time budget ends the same way.

The noun rule. "Job" inside the service: modules, classes, functions and variables. "Headshot"
at the API edge: routes, JSON fields, events, webhooks, error messages. The SQL table and
columns keep their historic names (headshot_generations, generation_id), and so do the JSON
fields that are the API's contract (`generationId`).

Which module holds what:
- `table.py`: the ORM class `Job`, `JobStatus`, `JobRow` (a row as a plain value), the state
  groups (IN_FLIGHT, FINISHED) and the reads every part shares (`get_job`, `live_of`).
- `creation.py`: the charge and the queued jobs it pays for, in one statement.
- `attempts.py`: a worker's transitions, one attempt at a time: claim, complete, requeue
  (the attempt spent) and give back (not spent).
- `endings.py`: the one place that decides what a failed job writes (fail, time out, cancel,
  each with its refund), the attempt policy, and the owner's retry.
- `deletion.py`: deleting one job, or all of a user's with their uploads.
- `reaper.py`: which jobs are overdue, and taking one over.
- `leases.py`: the running attempt's lease on its job.
- `progress.py`: the progress milestones and the estimate shown between them.
- `snapshot.py`: a job's status as the app polls it (what Redis holds).
- `changes.py`: `record_change`, the one path every committed change of a job takes.
- `_statements.py` (private): the statement parts the transitions share.
"""

from models.job.attempts import claim_job, complete_job, give_attempt_back, requeue_job
from models.job.changes import Change, record_change
from models.job.creation import create_job, create_jobs
from models.job.deletion import delete_job
from models.job.endings import cancel_job, fail_job, retry_job, time_out_job
from models.job.table import FINISHED, IN_FLIGHT, Job, JobRow, JobStatus, get_job

__all__ = [
    "FINISHED",
    "IN_FLIGHT",
    "Change",
    "Job",
    "JobRow",
    "JobStatus",
    "cancel_job",
    "claim_job",
    "complete_job",
    "create_job",
    "create_jobs",
    "delete_job",
    "fail_job",
    "get_job",
    "give_attempt_back",
    "record_change",
    "requeue_job",
    "retry_job",
    "time_out_job",
]
