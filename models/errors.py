"""Domain errors: each names a rule that was broken, with a code the API reports as is."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

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
