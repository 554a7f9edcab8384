"""GetImg failures as the service sees them: our error codes, the user's message for each, and
whether the same request may succeed later. `workers/getimg_client.py` raises them."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

# Our own error codes (snake_case, shown in job errors and metrics).
RATE_LIMITED = "getimg_rate_limited"
UNAVAILABLE = "getimg_unavailable"
TIMEOUT = "getimg_timeout"
QUOTA_EXCEEDED = "getimg_quota_exceeded"
CONTENT_POLICY = "content_policy_violation"
INVALID_REQUEST = "getimg_invalid_request"
AUTH_FAILED = "getimg_auth_failed"
MALFORMED = "malformed_response"
RESULT_EXPIRED = "getimg_result_expired"
RESULT_TOO_LARGE = "getimg_result_too_large"
DOWNLOAD_FAILED = "getimg_download_failed"

# Messages written for the person waiting on a headshot: no keys, URLs or account details.
USER_MESSAGES: dict[str, str] = {
    RATE_LIMITED: "The image service is busy right now; your headshot will be retried shortly.",
    UNAVAILABLE: "The image service is temporarily unavailable; please try again shortly.",
    TIMEOUT: "The image service took too long to answer.",
    QUOTA_EXCEEDED: "The image service is temporarily unavailable; please try again later.",
    CONTENT_POLICY: "This photo could not be processed because it was flagged by the image "
    "service's content policy. Please try a different photo.",
    INVALID_REQUEST: "The image service rejected the request for this photo or style.",
    AUTH_FAILED: "The image service is not configured correctly; our team has been alerted.",
    MALFORMED: "The image service sent an unreadable reply.",
    RESULT_EXPIRED: "The generated image expired before it could be saved.",
    RESULT_TOO_LARGE: "The generated image was larger than allowed.",
    DOWNLOAD_FAILED: "The generated image could not be downloaded.",
}

REMOTE_CODES = {
    "invalid_api_key": AUTH_FAILED,
    "quota_exceeded": QUOTA_EXCEEDED,
    "content_policy_violation": CONTENT_POLICY,
    "parameter_missing": INVALID_REQUEST,
    "invalid_parameter": INVALID_REQUEST,
    "rate_limit": RATE_LIMITED,
}
SECRET_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]+")
DETAIL_LIMIT = 300
# Builds the error for a malformed success body, given what is wrong with it.
Complaint = Callable[[str], "GetImgError"]


def classify_failure(status: int | None, code: str) -> bool:
    """Whether a failure is transient (the same request may succeed later).

    The one place this is decided. Transient: no HTTP answer at all (connection error,
    timeout), a garbage reply, 408, 409, 429 and >= 500 - the SDK's retry set. Permanent:
    400/401/402/403/404/410/422 and any other 4xx, and a request refused before sending.
    """
    if code in (MALFORMED, TIMEOUT, UNAVAILABLE, RATE_LIMITED):
        return True
    if status is None:
        return False  # refused before it was sent: the same input cannot do better
    return status in (408, 409, 429) or status >= 500


class GetImgError(Exception):
    """A failed GetImg call. `message` is safe to show a user; `detail` is for logs."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        transient: bool | None = None,
        detail: str = "",
    ) -> None:
        self.code = code
        self.message = message or USER_MESSAGES.get(code, "The image service request failed.")
        self.status = status
        self.retry_after = retry_after
        self.transient = classify_failure(status, code) if transient is None else transient
        self.detail = detail
        super().__init__(self.code, self.message)

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.code}{status}: {self.message}{detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments break default exception pickling; Celery pickles errors.
        state = (self.code, self.message, self.status, self.retry_after, self.transient,
                 self.detail)
        return (_rebuild_error, state)


def _rebuild_error(
    code: str, message: str, status: int | None, retry_after: float | None,
    transient: bool, detail: str,
) -> GetImgError:
    return GetImgError(code, message, status=status, retry_after=retry_after,
                       transient=transient, detail=detail)


def retry_after_from_headers(headers: Mapping[str, str], now: float | None = None, *,
                             rate_limited: bool = True) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or HTTP date), else for a 429 the time until
    `X-RateLimit-Reset` (the window's reset says nothing about when a 5xx will clear)."""
    now = time.time() if now is None else now
    raw = headers.get("Retry-After")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_tz(raw)  # None when it is not an HTTP date either
            value = email.utils.mktime_tz(parsed) - now if parsed is not None else math.nan
        if math.isfinite(value):
            return max(0.0, value)
    reset = headers.get("X-RateLimit-Reset")
    if reset and rate_limited:
        try:
            value = float(reset) - now
        except ValueError:
            return None
        if math.isfinite(value):
            return max(0.0, value)
    return None
