"""Client for GetImg.ai's v2 image API (`POST /v2/images/generations`).

Wire format as documented by GetImg.ai (docs win over /work/shared/getimg-wire.md):
- https://docs.getimg.ai/api-reference/images/generate-an-image and the official SDK
  getimg-ai/getimg-python `src/getimg/types/image_generate_params.py`: `model` and `prompt`
  required; `images: [{"url": ...}]` takes an HTTPS URL or a base64 *data URL* (PNG, JPEG or
  WebP, at most 10 MiB decoded, whole JSON body at most 25 MiB; bare base64 is rejected);
  optional `aspect_ratio`, `resolution`, `output_format` (png|jpeg|webp).
- `types/image_generate_response.py`, `types/usage.py` and
  https://docs.getimg.ai/guides/media-responses: `{id, status: "completed", model,
  data: [{url, width?, height?, mime_type, deletes_at}], usage: {total_cost, billable_unit,
  unit_price, quantity}}`; `url` is a signed download URL that expires at `deletes_at`, so the
  result must be downloaded at once. The SDK marks width/height optional; we report 0 then.
- https://docs.getimg.ai/guides/errors: `{"error": {message, type, param, code, doc_url}}`;
  invalid_api_key 401, parameter_missing / invalid_parameter 400, quota_exceeded 402,
  content_policy_violation 422, rate_limit 429 - none of those but 429 is retryable.
- https://docs.getimg.ai/guides/rate-limits: `X-RateLimit-Limit/-Remaining/-Reset` (reset in
  unix seconds) on generation responses; a 429 adds `Retry-After` (seconds).
- SDK `_client.py` / `_constants.py`: bearer auth, default timeout 300 s (connect 5 s); its base
  client retries connection errors, 408, 409, 429 and >= 500. `classify_failure` mirrors that.

This client never retries by itself: it raises `GetImgError` with a `transient` flag and a
`retry_after` hint, and the Celery task owns backoff and the shared concurrency limit.
A `requests.Session` is not safe to share between threads: use one client per thread/process.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

GENERATIONS_PATH = "/v2/images/generations"
MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024  # decoded, per the SDK's `Image.url` docstring
INPUT_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})

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

_REMOTE_CODES = {
    "invalid_api_key": AUTH_FAILED,
    "quota_exceeded": QUOTA_EXCEEDED,
    "content_policy_violation": CONTENT_POLICY,
    "parameter_missing": INVALID_REQUEST,
    "invalid_parameter": INVALID_REQUEST,
    "rate_limit": RATE_LIMITED,
}
_SECRET_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]+")
_DETAIL_LIMIT = 300
# Builds the error for a malformed success body, given what is wrong with it.
_Complaint = Callable[[str], "GetImgError"]


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


@dataclass(frozen=True)
class GeneratedImage:
    url: str
    width: int  # 0 when GetImg did not say (the SDK marks it optional)
    height: int
    mime_type: str


@dataclass(frozen=True)
class GenerationResponse:
    request_id: str
    model: str
    images: list[GeneratedImage]
    total_cost: float | None


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


def sniff_image_type(body: bytes) -> str | None:
    """The MIME type of a PNG, JPEG or WebP body from its magic bytes, else None."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return None


class GetImgClient:
    """Synchronous GetImg v2 client over one reused `requests.Session`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 120,
        session: requests.Session | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"GetImg base URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = (connect_timeout, read_timeout)
        self._owns_session = session is None
        self._session = session or requests.Session()

    def __repr__(self) -> str:  # never show the key
        return f"GetImgClient(base_url={self.base_url!r})"

    def __enter__(self) -> GetImgClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def generate(
        self,
        *,
        model: str,
        prompt: str,
        image: bytes,
        mime_type: str,
        aspect_ratio: str,
        resolution: str = "1K",
        output_format: str = "jpeg",
    ) -> GenerationResponse:
        """Edit `image` (the selfie, sent inline as a data URL) following `prompt`."""
        if mime_type not in INPUT_MIME_TYPES:
            raise GetImgError(INVALID_REQUEST, detail=f"unsupported input type {mime_type!r}")
        if len(image) > MAX_INPUT_IMAGE_BYTES:
            raise GetImgError(INVALID_REQUEST, detail=f"input image is {len(image)} bytes")
        data_url = f"data:{mime_type};base64,{base64.b64encode(image).decode('ascii')}"
        payload = {
            "model": model,
            "prompt": prompt,
            "images": [{"url": data_url}],
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            "output_format": output_format,
        }
        headers = {"Accept": "application/json"}
        # Sent per request, not set on the session, so download() never leaks it elsewhere.
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            response = self._session.post(
                self.base_url + GENERATIONS_PATH, json=payload, headers=headers,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            self._raise_transport(exc)
        with response:
            if response.status_code != 200:
                raise self._error_from_response(response, response.text)
            try:
                body = response.json()
            except ValueError:
                raise GetImgError(
                    MALFORMED, status=200, detail=f"not JSON: {self._snippet(response.text)}"
                ) from None
        return self._parse_generation(body)

    def download(self, url: str, *, max_bytes: int = 25 * 1024 * 1024) -> tuple[bytes, str]:
        """Fetch a result URL: (body, content type sniffed from the bytes).

        Streams the body and stops past `max_bytes`. 5xx and timeouts are transient;
        403/404/410 (a signed URL that expired or no longer matches) are permanent.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise GetImgError(MALFORMED, status=200, detail="download URL is not http(s)")
        try:
            with self._session.get(url, stream=True, timeout=self._timeout) as response:
                if response.status_code != 200:
                    # Read only the start: an error page from a CDN can be arbitrarily big.
                    head = next(response.iter_content(chunk_size=4096), b"")
                    text = head.decode("utf-8", "replace")
                    raise self._error_from_response(response, text, download=True)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise GetImgError(RESULT_TOO_LARGE, status=200,
                                      detail=f"Content-Length {declared} > {max_bytes}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise GetImgError(RESULT_TOO_LARGE, status=200,
                                          detail=f"body exceeds {max_bytes} bytes")
                    chunks.append(chunk)
        except requests.RequestException as exc:
            self._raise_transport(exc)
        body = b"".join(chunks)
        content_type = sniff_image_type(body)
        if content_type is None:
            raise GetImgError(MALFORMED, status=200, detail="download is not a PNG/JPEG/WebP")
        return body, content_type

    # -- internals ---------------------------------------------------------------------------

    def _raise_transport(self, exc: requests.RequestException) -> NoReturn:
        # requests re-wraps a read timeout met while streaming as a ConnectionError.
        timed_out = isinstance(exc, requests.Timeout) or any(
            isinstance(arg, ReadTimeoutError) for arg in exc.args
        )
        code = TIMEOUT if timed_out else UNAVAILABLE  # else refused, reset, DNS, cut body...
        raise GetImgError(code, detail=self._redact(f"{type(exc).__name__}: {exc}")) from exc

    def _error_from_response(
        self, response: requests.Response, text: str, *, download: bool = False
    ) -> GetImgError:
        status = response.status_code
        remote_code, remote_message = "", ""
        try:
            error = json.loads(text).get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, dict):
            remote_code = str(error.get("code") or "")
            remote_message = str(error.get("message") or "")
        else:
            remote_message = self._snippet(text)
        code = self._code_for(status, remote_code, download=download)
        detail = " ".join(p for p in (remote_code, remote_message) if p)
        retry_after = None
        if classify_failure(status, code):
            retry_after = retry_after_from_headers(response.headers, rate_limited=status == 429)
        return GetImgError(code, status=status, retry_after=retry_after,
                           detail=self._redact(detail)[:_DETAIL_LIMIT])

    @staticmethod
    def _code_for(status: int, remote_code: str, *, download: bool) -> str:
        if status == 429:
            return RATE_LIMITED
        if status == 408:
            return TIMEOUT
        if status == 409 or status >= 500:
            return UNAVAILABLE
        if download:
            return RESULT_EXPIRED if status in (403, 404, 410) else DOWNLOAD_FAILED
        if remote_code in _REMOTE_CODES:
            return _REMOTE_CODES[remote_code]
        return {401: AUTH_FAILED, 403: AUTH_FAILED, 402: QUOTA_EXCEEDED,
                422: CONTENT_POLICY}.get(status, INVALID_REQUEST)

    def _parse_generation(self, body: object) -> GenerationResponse:
        def bad(why: str) -> GetImgError:
            return GetImgError(MALFORMED, status=200, detail=why)

        if not isinstance(body, dict):
            raise bad("body is not a JSON object")
        request_id, model, data = body.get("id"), body.get("model"), body.get("data")
        if not isinstance(request_id, str) or not request_id:
            raise bad("missing id")
        if not isinstance(model, str):
            raise bad("missing model")
        if body.get("status", "completed") != "completed":
            raise bad(f"status is {body.get('status')!r}")
        if not isinstance(data, list) or not data:
            raise bad("missing data")
        images = [self._parse_image(item, bad) for item in data]
        return GenerationResponse(request_id, model, images, self._parse_cost(body, bad))

    @staticmethod
    def _parse_image(item: object, bad: _Complaint) -> GeneratedImage:
        if not isinstance(item, dict):
            raise bad("data item is not an object")
        url, mime_type = item.get("url"), item.get("mime_type")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise bad("data item has no http(s) url")
        if not isinstance(mime_type, str) or not mime_type.startswith("image/"):
            raise bad("data item has no image mime_type")
        sizes = [item.get("width"), item.get("height")]
        for value in sizes:
            if value is not None and (type(value) is not int or value < 0):
                raise bad("data item width/height is not a non-negative integer")
        width, height = (int(v) if v is not None else 0 for v in sizes)
        return GeneratedImage(url=url, width=width, height=height, mime_type=mime_type)

    @staticmethod
    def _parse_cost(body: dict[str, Any], bad: _Complaint) -> float | None:
        usage = body.get("usage")
        if usage is None:
            return None
        if not isinstance(usage, dict):
            raise bad("usage is not an object")
        cost = usage.get("total_cost")
        if cost is None:
            return None
        if isinstance(cost, bool) or not isinstance(cost, int | float | str):
            raise bad("usage.total_cost is not a number")
        try:
            value = float(cost)
        except ValueError:
            raise bad("usage.total_cost is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise bad("usage.total_cost is not a finite non-negative number")
        return value

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return _SECRET_PATTERN.sub("sk_[redacted]", text)

    def _snippet(self, text: str) -> str:
        return self._redact(" ".join(text.split()))[:_DETAIL_LIMIT]
