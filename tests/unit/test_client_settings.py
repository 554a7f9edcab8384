"""The settings of the mobile and web clients (§12): the identity provider, CORS origins."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from config import Settings

PROVIDER = {"jwt_jwks_url": "https://login.example.com/.well-known/jwks.json",
            "jwt_issuer": "https://login.example.com/", "jwt_audience": "headshots-api"}


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_hs256_only_without_a_provider_unless_allowed() -> None:
    assert settings().hs256_accepted
    assert not settings(**PROVIDER).hs256_accepted
    assert settings(**PROVIDER, jwt_allow_hs256=True).hs256_accepted
    assert settings(jwt_jwks_url="").jwt_jwks_url is None  # an empty variable is unset


@pytest.mark.parametrize("missing", ["jwt_issuer", "jwt_audience"])
def test_a_provider_needs_its_issuer_and_this_apis_audience(missing: str) -> None:
    with pytest.raises(ValidationError, match="JWT_ISSUER and JWT_AUDIENCE"):
        settings(**{**PROVIDER, missing: None})


@pytest.mark.parametrize("url", ["http://login.example.com/jwks.json", "ftp://127.0.0.1/jwks",
                                 "file:///etc/jwks.json", "login.example.com/jwks.json"])
def test_the_jwks_url_is_https_but_on_loopback(url: str) -> None:
    with pytest.raises(ValidationError, match="JWT_JWKS_URL"):
        settings(**{**PROVIDER, "jwt_jwks_url": url})
    assert settings(**{**PROVIDER, "jwt_jwks_url": "http://127.0.0.1:9/jwks.json"}).jwt_jwks_url


def test_cors_origins_are_origins_as_browsers_send_them() -> None:
    assert settings().allowed_cors_origins == frozenset()
    parsed = settings(cors_origins=" https://App.Example.com/, http://localhost:5173 ,")
    assert parsed.allowed_cors_origins == {"https://app.example.com", "http://localhost:5173"}


@pytest.mark.parametrize("origin", ["*", "app.example.com", "https://app.example.com/path",
                                    "https://app.example.com?x=1", "ftp://app.example.com",
                                    "https://user@app.example.com"])
def test_anything_but_an_origin_is_refused_at_start(origin: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        settings(cors_origins=f"https://ok.example.com,{origin}")
