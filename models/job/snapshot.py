"""A job's status as the app polls it, small enough to live in Redis between state changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.job.progress import displayed_progress
from models.job.table import FINISHED, Job, JobRow, JobStatus


@dataclass(frozen=True)
class StatusSnapshot:
    id: int
    user_id: int
    status: str
    progress: int
    progress_at: float
    created_at: float
    started_at: float | None = None
    result_keys: list[str] = field(default_factory=list)
    thumbnail_key: str | None = None
    # [width, height] per result and the thumbnail's; None where not known (older jobs, and
    # snapshots cached before the sizes were)
    result_sizes: list[list[int]] | None = None
    thumbnail_size: list[int] | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def of(cls, job: Job | JobRow) -> StatusSnapshot:
        return cls(
            id=job.id,
            user_id=job.user_id,
            status=job.status,
            progress=job.progress,
            progress_at=job.progress_at.timestamp(),
            created_at=job.created_at.timestamp(),
            started_at=job.started_at.timestamp() if job.started_at else None,
            result_keys=list(job.result_keys or []),
            thumbnail_key=job.thumbnail_key,
            result_sizes=job.result_sizes,
            thumbnail_size=[job.thumbnail_width, job.thumbnail_height]
            if job.thumbnail_width is not None and job.thumbnail_height is not None else None,
            error_code=job.error_code,
            error_message=job.error_message,
        )

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict, which deep-copies each value through a recursive walk, a
        # real part of publishing a change. The one mutable field is a list of str.
        return {**self.__dict__, "result_keys": list(self.result_keys)}

    @property
    def version(self) -> int:
        """Which state of the job this is, growing with each change: `progress_at` (every
        change moves it, and the status cache keeps only the newest by it) in microseconds,
        as PostgreSQL stores it. A status stream's event ids (§6)."""
        return round(self.progress_at * 1_000_000)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def moves_with_time(self) -> bool:
        """Whether what a reader is shown changes with time alone: a processing job's progress
        estimate and expected wait do; any other state's only with a change of the job."""
        return self.status == JobStatus.PROCESSING

    def displayed_progress(self, now: float, *, expected_seconds: float) -> int:
        return displayed_progress(self.status, self.progress, self.progress_at, now,
                                  expected_seconds=expected_seconds)
