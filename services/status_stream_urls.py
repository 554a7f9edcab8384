"""Signed, expiring URLs of a job's status stream (§12): what a browser's `EventSource` opens,
as it cannot send an `Authorization` header. The signature is the authorization.

A URL is `{public_base_url}/api/headshots/status/{job}/signed-stream?user=<owner>&exp=<unix
seconds>&sig=<signature>`, the signature made as the media URLs' (`media/signed_urls.py`), with
their key, over a message of this purpose's own: `headshots-status-stream-v1`, the owner, the
job and the expiry. So a media URL's signature never opens a stream, a stream's never an image,
and one job's (or one user's) never another's. The owner is in the URL so that a URL is checked
before anything is read for it.
"""

from __future__ import annotations

import hmac
import re
import time

from config import get_settings, per_settings
from media.signed_urls import (
    EXP_PATTERN,
    EXPIRY_STEP_SECONDS,
    SIGNATURE_PATTERN,
    expiry_in,
    url_signature,
)

STREAM_URL_TTL_SECONDS = 3600  # a URL lives an hour, and up to a minute more
SIGNED_KEPT = 4_096  # URLs kept per signer, then forgotten all at once
USER_PATTERN = re.compile(r"[1-9][0-9]{0,17}")  # a user id: fits a BIGINT
_SIGNATURE_CONTEXT = b"headshots-status-stream-v1\n"


def stream_path(job_id: int) -> str:
    return f"/api/headshots/status/{job_id}/signed-stream"


class StatusStreamSigner:
    """Issues and checks the signed URLs of status streams."""

    def __init__(self, *, key: bytes, public_base_url: str,
                 ttl_seconds: int = STREAM_URL_TTL_SECONDS) -> None:
        if len(key) < 16:
            raise ValueError("the signing key must be at least 16 bytes")
        self._key = key
        self._base_url = public_base_url.strip().rstrip("/")
        self._ttl = ttl_seconds
        # URLs signed lately: each status poll and each headshot in a list carries one, and a
        # URL stays the same within its hour window (media/signed_urls.py: expiry_in).
        self._signed: dict[tuple[int, int, int], str] = {}

    def _signature(self, user_id: int, job_id: int, exp: int) -> str:
        return url_signature(self._key, _SIGNATURE_CONTEXT
                             + f"{user_id}\n{job_id}\n{exp}".encode("ascii"))

    def url(self, user_id: int, job_id: int, *, now: float | None = None) -> str:
        """The URL of the stream of `user_id`'s job `job_id`, valid for an hour (to the next
        whole minute)."""
        exp = expiry_in(self._ttl, time.time() if now is None else now)
        signed = self._signed.get((user_id, job_id, exp))
        if signed is None:
            signed = (f"{self._base_url}{stream_path(job_id)}?user={user_id}&exp={exp}"
                      f"&sig={self._signature(user_id, job_id, exp)}")
            if len(self._signed) >= SIGNED_KEPT:
                self._signed.clear()
            self._signed[(user_id, job_id, exp)] = signed
        return signed

    def owner(self, job_id: int, *, user: str, exp: str, sig: str,
              now: float | None = None) -> int | None:
        """The user whose stream of `job_id` the query (`user`, `exp`, `sig`) opens: None for
        anything malformed, expired, issued further ahead than this signer issues, or signed
        for another purpose, job or user."""
        if not all(isinstance(value, str) for value in (user, exp, sig)):
            return None
        if (USER_PATTERN.fullmatch(user) is None or EXP_PATTERN.fullmatch(exp) is None
                or SIGNATURE_PATTERN.fullmatch(sig) is None):
            return None
        current = time.time() if now is None else now
        expiry = int(exp)
        if expiry <= current or expiry > current + self._ttl + EXPIRY_STEP_SECONDS:
            return None
        expected = self._signature(int(user), job_id, expiry)
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii")):
            return None
        return int(user)


@per_settings
def get_stream_signer() -> StatusStreamSigner:
    settings = get_settings()
    return StatusStreamSigner(key=settings.media_signing_key,
                              public_base_url=settings.public_base_url)


def status_stream_url(user_id: int, job_id: int) -> str:
    """The signed URL of the stream of `user_id`'s job `job_id`, valid for an hour."""
    return get_stream_signer().url(user_id, job_id)
