"""Bearer JWT authentication (contract §2): HS256 only, `exp` and `sub` required."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import jwt
from flask import g, request

from api.errors import ApiError
from config import get_settings

USER_ID_PATTERN = re.compile(r"[1-9][0-9]{0,17}")  # fits a BIGINT
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="headshots"'}


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
    principal, expiry = _verified(token.strip(), get_settings().jwt_secret)
    if expiry <= time.time():  # as PyJWT decides it, for a token verified earlier
        raise _unauthorized("the token has expired")
    return principal


# The app polls every second or two with the same token: its signature is checked once, and
# only its expiry on each later request. A refused token raises, and is never remembered.
@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[Principal, float]:
    """The token's principal and its expiry (a Unix time), once its signature checks out."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # never "none", never an algorithm the token picks
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired") from None
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
