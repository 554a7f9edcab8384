"""Domain rules that need no database: the progress shown while a job waits on GetImg, and the
ledger's entry types (the state machine itself: tests/integration/test_generation_states.py)."""

from __future__ import annotations

import time
from dataclasses import fields

from models.credits import EntryType
from models.job.progress import PROGRESS_RECEIVED, PROGRESS_WAITING, displayed_progress
from models.job.table import Job, JobRow

EXPECTED_SECONDS = 2.0  # any GETIMG_EXPECTED_SECONDS; the test settings' value


def test_displayed_progress_never_goes_down_and_stays_below_the_next_milestone() -> None:
    now = time.time()
    for stored in (0, 5, PROGRESS_WAITING, 40, PROGRESS_RECEIVED - 1, PROGRESS_RECEIVED, 100):
        values = [displayed_progress("processing", stored, now, now + dt / 10,
                                     expected_seconds=EXPECTED_SECONDS)
                  for dt in range(0, 3000)]
        assert values == sorted(values)
        assert values[0] == stored
        if PROGRESS_WAITING <= stored < PROGRESS_RECEIVED:
            assert values[-1] == PROGRESS_RECEIVED - 1
        else:
            assert set(values) == {stored}
    assert displayed_progress("queued", 40, now, now + 100, expected_seconds=EXPECTED_SECONDS) == 40


def test_ledger_entry_types_are_the_contracts() -> None:
    assert {entry.value for entry in EntryType} == {"headshot", "refund", "grant"}


def test_a_transition_reads_back_every_column_of_the_job() -> None:
    # A transition returns JobRow (built from its UPDATE's RETURNING), not the ORM object:
    # a column added to the table must be added there too.
    columns = {attribute.key for attribute in Job.__mapper__.column_attrs}
    assert {field.name for field in fields(JobRow)} == columns
