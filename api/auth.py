"""Bearer JWT authentication (API guide §2).

Two kinds of token, each with `exp` and `sub` (a user id, in decimal) required:
- from the identity provider (JWT_JWKS_URL set): RS256 or ES256, signed by a key of its JWKS
  (`api/signing_keys.py`) named by the token's `kid`, with `iss` == JWT_ISSUER and `aud` ==
  JWT_AUDIENCE;
- HS256 with JWT_SECRET: development, and only while JWT_JWKS_URL is unset or
  JWT_ALLOW_HS256 is on.
Any other `alg` (`none` included) is refused before a key is looked at, and a token's `alg`
must be its key's own.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import jwt
from flask import g, request

from api.errors import ApiError
from api.signing_keys import (
    KEY_TYPES,
    MAX_KID_LENGTH,
    ProviderUnavailable,
    SigningKey,
    SigningKeys,
    UnknownSigningKey,
    identity_provider_keys,
)
from config import get_settings

USER_ID_PATTERN = re.compile(r"[1-9][0-9]{0,17}")  # fits a BIGINT
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="headshots"'}
HS256 = "HS256"
PROVIDER_ALGORITHMS = frozenset(KEY_TYPES)  # RS256, ES256


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str | None
    is_admin: bool


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, CHALLENGE)


def principal_from_header(header: str | None) -> Principal:
    if not header:
        raise _unauthorized("missing Authorization: Bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    principal, expiry = _verified(token.strip(), *_signing_key(token.strip()))
    if expiry <= time.time():  # as PyJWT decides it, for a token verified earlier
        raise _unauthorized("the token has expired")
    return principal


def _signing_key(token: str) -> tuple[SigningKey | str, str | None, str | None]:
    """The key the token must be signed with (JWT_SECRET for HS256), and the issuer and
    audience it must name. Its header only picks among the keys allowed: an `alg` outside
    them is refused before any key is looked up (or fetched)."""
    settings = get_settings()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _unauthorized("the token is invalid") from None
    algorithm, kid = header.get("alg"), header.get("kid")
    keys = identity_provider_keys()
    if algorithm == HS256 and settings.hs256_accepted:
        key: SigningKey | str = settings.jwt_secret
    # `alg` is whatever JSON the header holds: a list or an object cannot be looked up in a set.
    elif keys is not None and isinstance(algorithm, str) and algorithm in PROVIDER_ALGORITHMS \
            and isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH:
        key = _provider_key(keys, kid, algorithm)
    else:
        raise _unauthorized("the token is invalid")
    return key, settings.jwt_issuer, settings.jwt_audience


def _provider_key(keys: SigningKeys, kid: str, algorithm: str) -> SigningKey:
    try:
        key = keys.key(kid)
    except UnknownSigningKey:
        raise _unauthorized("the token's signing key is not one of the identity "
                            "provider's") from None
    except ProviderUnavailable as unavailable:
        raise ApiError(503, "identity_provider_unavailable",
                       "the token's signing key cannot be checked with the identity provider "
                       "now; try again after Retry-After seconds",
                       {"Retry-After": str(unavailable.retry_after)}) from None
    if key.algorithm != algorithm:  # e.g. ES256 named on an RSA key
        raise _unauthorized("the token is invalid")
    return key


# The app polls every second or two with the same token: its signature is checked once, and
# only its expiry on each later request. A refused token raises, and is never remembered.
# A key the provider dropped is a new fetch's keys' absence: its tokens are looked up again.
@functools.lru_cache(maxsize=4096)
def _verified(token: str, key: SigningKey | str, issuer: str | None,
              audience: str | None) -> tuple[Principal, float]:
    """The token's principal and its expiry (a Unix time), once its signature checks out."""
    if isinstance(key, SigningKey):
        algorithm, secret = key.algorithm, key.public_key
    else:
        algorithm, secret = HS256, key
    required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],  # never "none", never an algorithm the token picks
            issuer=issuer,
            audience=audience,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired") from None
    except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
        raise _unauthorized("the token was issued by another issuer or for another "
                            "audience") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("the token is invalid") from None
    expiry = claims.get("exp")  # PyJWT also takes "123" for a NumericDate; RFC 7519 does not
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        raise _unauthorized("the token is invalid")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not USER_ID_PATTERN.fullmatch(subject):
        raise _unauthorized("the token's sub must be a user id as a decimal string")
    email = claims.get("email")
    principal = Principal(
        user_id=int(subject),
        email=email if isinstance(email, str) and len(email) <= 320 and "\x00" not in email
        else None,  # PostgreSQL text cannot hold NUL
        is_admin=claims.get("role") == "admin",
    )
    return principal, float(expiry)


def request_principal() -> Principal:
    """The caller, from the bearer token, checked once per request however often asked."""
    if "principal" not in g:
        g.principal = principal_from_header(request.headers.get("Authorization"))
    principal: Principal = g.principal
    return principal


def authenticate() -> None:
    """`before_request` hook of every /api blueprint."""
    request_principal()


def require_admin() -> None:
    authenticate()
    if not current_principal().is_admin:
        raise ApiError(403, "forbidden", "this route is for operators")


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal
