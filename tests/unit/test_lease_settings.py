"""The lease settings refuse a renewal too rare to keep the lease alive."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings


def test_a_renewal_must_come_at_least_twice_per_lease() -> None:
    Settings(job_lease_seconds=30, job_lease_renew_seconds=15)
    with pytest.raises(ValidationError, match="JOB_LEASE_RENEW_SECONDS"):
        Settings(job_lease_seconds=30, job_lease_renew_seconds=20)


def test_the_defaults_recover_a_dead_worker_s_jobs_within_a_minute() -> None:
    settings = Settings()
    assert settings.job_lease_seconds + settings.reaper_interval_seconds < 60
    assert settings.job_lease_seconds < settings.job_processing_timeout_seconds
