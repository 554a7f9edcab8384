"""Domain errors: each names a rule that was broken, with a code the API reports as is.

The HTTP status of each is decided in one table, `api/errors.py` (`ERROR_STATUS`).
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    field: str | None = None  # the request field at fault, when it is one; named in the message

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"


class InvalidRequest(DomainError):
    code = "invalid_request"


class InsufficientCredits(DomainError):
    code = "insufficient_credits"


class Conflict(DomainError):
    code = "conflict"


class OriginalExpired(Conflict):
    """The uploaded selfie a job needs is gone (past ORIGINAL_RETENTION_MINUTES)."""

    code = "original_expired"
    MESSAGE = "The uploaded photo has expired; upload it again."

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class RateLimited(DomainError):
    """A per-user budget of the domain's own is spent: try again in `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """A dependency (the job queue) refused the work; nothing was charged."""

    code = "service_unavailable"


class FeatureDisabled(DomainError):
    """A feature flag (§14) is off for the caller; nothing was charged or written."""

    code = "feature_disabled"

    def __init__(self, flag: str) -> None:
        super().__init__(f"the feature {flag!r} is not available to you at the moment")
        self.flag = flag
