"""Client for GetImg.ai's v2 image API (`POST /v2/images/generations`).

Wire format as documented by GetImg.ai (their docs win over docs/getimg.md, our reading):
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
The transport is urllib3's pool manager directly (requests is built on it): requests' own
layer (settings merging, cookie jar, hooks, response wrapping) costs CPU on every call, the
generate and the download, for nothing this client uses. One client per thread/process,
as before.

A generation can be abandoned (`generate(abandon=...)`, set when its job is cancelled): while
GetImg works, the client waits for the answer or the signal, and on the signal closes the
connection (GetImg sees it end) and raises `CallAbandoned`. The wait is in the connection's
`getresponse`, in the calling thread, so no other thread ever touches the socket. It uses
urllib3's public extension points only: the pool classes a PoolManager makes
(`pool_classes_by_scheme`), the connection class a pool makes (`ConnectionCls`), the
connection's `sock` and `timeout` (http.client's) and `urllib3.util.wait.wait_for_read`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests.utils
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as TransportTimeout
from urllib3.response import HTTPResponse
from urllib3.util.wait import wait_for_read

from media.formats import BY_CONTENT_TYPE, data_url, sniff
from workers.getimg_errors import (
    AUTH_FAILED,
    CONTENT_POLICY,
    DETAIL_LIMIT,
    DOWNLOAD_FAILED,
    INVALID_REQUEST,
    MALFORMED,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    REMOTE_CODES,
    RESULT_EXPIRED,
    RESULT_TOO_LARGE,
    SECRET_PATTERN,
    TIMEOUT,
    UNAVAILABLE,
    Complaint,
    GetImgError,
    classify_failure,
    retry_after_from_headers,
)

GENERATIONS_PATH = "/v2/images/generations"
MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024  # decoded, per the SDK's `Image.url` docstring
# Never retry (the Celery task owns that); follow redirects like requests did (a CDN's signed
# URL may redirect; urllib3 drops Authorization when a redirect changes host).
NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=30,
                           raise_on_redirect=True)
# How often a call waiting for GetImg's answer looks at its abandon signal: the most a cancel
# adds to the wait before the connection is closed.
ABANDON_CHECK_SECONDS = 0.2


class CallAbandoned(Exception):
    """The caller abandoned the generation (its job was cancelled): the connection is closed
    and GetImg's answer, if it ever comes, is nobody's."""


# The abandon signal of the generation this thread is making (None: a call that is never
# abandoned, such as a download). Thread-local because the connection that waits for the
# answer runs in the calling thread, and urllib3 gives a connection no per-request argument.
_calling = threading.local()


@contextmanager
def _abandonable(abandon: threading.Event | None) -> Iterator[None]:
    _calling.abandon = abandon
    try:
        yield
    finally:
        _calling.abandon = None


def _wait_for_answer(connection: HTTPConnection) -> None:
    """Before a connection reads the answer to this thread's abandonable call: wait until the
    answer starts to arrive, the read timeout passes, or the call is abandoned (then close the
    connection, so GetImg sees it end)."""
    abandon: threading.Event | None = getattr(_calling, "abandon", None)
    if abandon is None or connection.sock is None:
        return
    limit = connection.timeout if isinstance(connection.timeout, int | float) else None
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        if abandon.is_set():
            connection.close()
            raise CallAbandoned
        step = ABANDON_CHECK_SECONDS
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {limit} s")  # urllib3's read timeout
            step = min(step, left)
        if wait_for_read(connection.sock, timeout=step):
            return


class AbandonableHTTPConnection(HTTPConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 says
        _wait_for_answer(self)
        return super().getresponse()


class AbandonableHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 says
        _wait_for_answer(self)
        return super().getresponse()


class AbandonableHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = AbandonableHTTPConnection


class AbandonableHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = AbandonableHTTPSConnection


POOL_CLASSES = {"http": AbandonableHTTPConnectionPool, "https": AbandonableHTTPSConnectionPool}


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
    # Set when the answer's X-RateLimit-Remaining says the window is spent: seconds to its reset.
    pause_seconds: float | None = None


class GetImgClient:
    """Synchronous GetImg v2 client over reused urllib3 connection pools."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 120,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"GetImg base URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # The environment's CA bundle and proxies, as requests would read them, but once (the
        # CA bundle) or once per host (`_pool_for`) rather than walking os.environ per request.
        self._ca_certs = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                          or requests.utils.DEFAULT_CA_BUNDLE_PATH)
        self._direct = urllib3.PoolManager(ca_certs=self._ca_certs)
        self._direct.pool_classes_by_scheme = POOL_CLASSES
        self._via_proxy: dict[str, urllib3.ProxyManager] = {}  # by proxy URL
        self._proxies: dict[str, dict[str, str]] = {}  # by origin

    def __repr__(self) -> str:  # never show the key
        return f"GetImgClient(base_url={self.base_url!r})"

    def __enter__(self) -> GetImgClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._direct.clear()
        for manager in self._via_proxy.values():
            manager.clear()

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
        abandon: threading.Event | None = None,
    ) -> GenerationResponse:
        """Edit `image` (the selfie, sent inline as a data URL) following `prompt`. Once
        `abandon` is set, the call stops waiting for GetImg: `CallAbandoned`."""
        if mime_type not in BY_CONTENT_TYPE:
            raise GetImgError(INVALID_REQUEST, detail=f"unsupported input type {mime_type!r}")
        if len(image) > MAX_INPUT_IMAGE_BYTES:
            raise GetImgError(INVALID_REQUEST, detail=f"input image is {len(image)} bytes")
        payload = {
            "model": model,
            "prompt": prompt,
            "images": [{"url": data_url(image, mime_type)}],
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            "output_format": output_format,
        }
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        # Sent per request, not set on the pool, so download() never leaks it elsewhere.
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = self.base_url + GENERATIONS_PATH
        try:
            with _abandonable(abandon):
                response = self._pool_for(url).request(
                    "POST", url, body=json.dumps(payload).encode(), headers=headers,
                    timeout=self._timeout, retries=NO_RETRIES,
                )
        except TransportError as exc:
            self._raise_transport(exc)
        if response.status != 200:
            raise self._error_from_response(response, self._text(response.data))
        try:
            body = json.loads(response.data)
        except ValueError:
            snippet = self._snippet(self._text(response.data))
            raise GetImgError(MALFORMED, status=200, detail=f"not JSON: {snippet}") from None
        parsed = self._parse_generation(body)
        if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
            pause = retry_after_from_headers(response.headers, rate_limited=True)
            parsed = dataclasses.replace(parsed, pause_seconds=pause)
        return parsed

    def download(self, url: str, *, max_bytes: int = 25 * 1024 * 1024) -> tuple[bytes, str]:
        """Fetch a result URL: (body, content type sniffed from the bytes).

        Streams the body and stops past `max_bytes`. 5xx and timeouts are transient;
        403/404/410 (a signed URL that expired or no longer matches) are permanent.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise GetImgError(MALFORMED, status=200, detail="download URL is not http(s)")
        chunks: list[bytes] = []
        try:
            response = self._pool_for(url).request(
                "GET", url, timeout=self._timeout, retries=NO_RETRIES, preload_content=False)
            read_to_the_end = False
            try:
                if response.status != 200:
                    # Read only the start: an error page from a CDN can be arbitrarily big.
                    raise self._error_from_response(response, self._text(response.read(4096)),
                                                    download=True)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise GetImgError(RESULT_TOO_LARGE, status=200,
                                      detail=f"Content-Length {declared} > {max_bytes}")
                size = 0
                for chunk in response.stream(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise GetImgError(RESULT_TOO_LARGE, status=200,
                                          detail=f"body exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                read_to_the_end = True
            finally:
                if not read_to_the_end:  # left unread: the connection cannot be reused
                    response.close()
                response.release_conn()
        except TransportError as exc:
            self._raise_transport(exc)
        body = b"".join(chunks)
        fmt = sniff(body)
        if fmt is None:
            raise GetImgError(MALFORMED, status=200, detail="download is not a PNG/JPEG/WebP")
        return body, fmt.content_type

    # -- internals ---------------------------------------------------------------------------

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        """The pool manager for `url`: direct, or through the environment's proxy for its host."""
        proxy = self._proxies_for(url).get(urlsplit(url).scheme)
        if not proxy:
            return self._direct
        manager = self._via_proxy.get(proxy)
        if manager is None:
            manager = self._via_proxy[proxy] = urllib3.ProxyManager(proxy,
                                                                    ca_certs=self._ca_certs)
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for `url`'s host (HTTPS_PROXY, NO_PROXY...), as requests
        would find them, looked up once per host."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = self._proxies[origin] = requests.utils.get_environ_proxies(origin)
        return proxies

    def _raise_transport(self, exc: TransportError) -> NoReturn:
        cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
        # urllib3 makes NewConnectionError (refused, DNS) a subclass of its connect timeout.
        timed_out = (isinstance(cause, TransportTimeout)
                     and not isinstance(cause, NewConnectionError))
        code = TIMEOUT if timed_out else UNAVAILABLE  # else refused, reset, DNS, cut body...
        raise GetImgError(code, detail=self._redact(f"{type(cause).__name__}: {cause}")) from exc

    @staticmethod
    def _text(body: bytes) -> str:
        return body.decode("utf-8", "replace")

    def _error_from_response(
        self, response: urllib3.BaseHTTPResponse, text: str, *, download: bool = False
    ) -> GetImgError:
        status = response.status
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
                           detail=self._redact(detail)[:DETAIL_LIMIT])

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
        if remote_code in REMOTE_CODES:
            return REMOTE_CODES[remote_code]
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
    def _parse_image(item: object, bad: Complaint) -> GeneratedImage:
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
    def _parse_cost(body: dict[str, Any], bad: Complaint) -> float | None:
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
        return SECRET_PATTERN.sub("sk_[redacted]", text)

    def _snippet(self, text: str) -> str:
        return self._redact(" ".join(text.split()))[:DETAIL_LIMIT]
