"""How the GetImg client classifies failures and reads Retry-After; pure functions (the client
against the fake server: tests/e2e/test_getimg_client.py)."""

from __future__ import annotations

import pickle

import pytest

from workers.getimg_client import (
    GetImgClient,
    GetImgError,
    classify_failure,
    retry_after_from_headers,
)


@pytest.mark.parametrize(("status", "code", "transient"), [
    (None, "getimg_unavailable", True),
    (None, "getimg_timeout", True),
    (200, "malformed_response", True),
    (408, "getimg_timeout", True),
    (409, "getimg_unavailable", True),
    (429, "getimg_rate_limited", True),
    (500, "getimg_unavailable", True),
    (504, "getimg_unavailable", True),
    (400, "getimg_invalid_request", False),
    (401, "getimg_auth_failed", False),
    (402, "getimg_quota_exceeded", False),
    (403, "getimg_auth_failed", False),
    (404, "getimg_invalid_request", False),
    (410, "getimg_result_expired", False),
    (422, "content_policy_violation", False),
    (418, "getimg_invalid_request", False),
    (None, "getimg_invalid_request", False),  # refused before sending
])
def test_classify_failure(status: int | None, code: str, transient: bool) -> None:
    assert classify_failure(status, code) is transient


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert retry_after_from_headers({"Retry-After": "3"}, now) == 3
    assert retry_after_from_headers({"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"},
                                    now) == 10
    assert retry_after_from_headers({"X-RateLimit-Reset": str(int(now) + 12)}, now) == 12
    assert retry_after_from_headers({"X-RateLimit-Reset": str(int(now) - 5)}, now) == 0
    assert retry_after_from_headers({"Retry-After": "soon"}, now) is None
    assert retry_after_from_headers({}, now) is None


def test_error_survives_pickling_for_celery() -> None:
    error = GetImgError("getimg_rate_limited", status=429, retry_after=2.5, detail="rate_limit")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.status, copy.retry_after, copy.transient, copy.message,
            copy.detail) == ("getimg_rate_limited", 429, 2.5, True, error.message, "rate_limit")


def test_the_client_honours_the_environments_proxies_read_once_per_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The client reads them itself, once (requests' own lookup walked os.environ per request).
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "cdn.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    client = GetImgClient("https://api.getimg.ai", "sk_test")
    proxy = "http://proxy.internal:3128"
    assert client._proxies_for("https://api.getimg.ai/v2/images/generations")["https"] == proxy
    assert "https" not in client._proxies_for("https://cdn.example/result.jpg?sig=x")
    monkeypatch.delenv("HTTPS_PROXY")  # read once per host: the answer stays
    assert client._proxies_for("https://api.getimg.ai/other")["https"] == proxy
    assert client._ca_certs == "/etc/ssl/corporate.pem"
    assert client._pool_for("https://api.getimg.ai/v2/images/generations").proxy is not None
    assert client._pool_for("https://cdn.example/result.jpg") is client._direct
