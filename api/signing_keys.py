"""The identity provider's signing keys (§2): its JWKS, held by key id (`kid`).

- A token naming a key we hold is checked with no network call, whatever state the provider is
  in: an outage of the provider never refuses a user whose token's key we already know.
- A token naming a key we do not hold makes us fetch the set again (the provider rotated its
  key), at most once per JWT_JWKS_COOLDOWN_SECONDS, whatever the number of unknown ids: a flood
  of made-up ids costs the provider one fetch per cooldown. A key still missing from a set
  fetched after its token came is refused (401) until the next fetch. During the cooldown,
  and when the provider cannot be reached (JWT_JWKS_TIMEOUT_SECONDS, short), we cannot tell a
  new key from a made-up one: the caller gets a 503 with Retry-After and its app tries again.
- A set older than JWT_JWKS_MAX_AGE_SECONDS is fetched again in the background, so a key the
  provider removed stops working, and keys it publishes ahead of using them are held before
  the first token needs them. A failed fetch keeps the keys we had.

PyJWT's `PyJWKClient` fetches and parses the set; its own cache is not used, because an expired
cache makes it fetch in the request, and fail the request when the provider is down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWKClient, PyJWTError

from config import get_settings, per_settings

log = logging.getLogger(__name__)

# The only algorithms a provider's token may use, each with the only key type that signs it:
# a token's `alg` must be its key's, so an RSA key can never be taken as an HMAC secret.
KEY_TYPES: dict[str, type[Any]] = {"RS256": RSAPublicKey, "ES256": EllipticCurvePublicKey}
MAX_KID_LENGTH = 256
MAX_ABSENT_KIDS = 1024


class UnknownSigningKey(LookupError):
    """The provider's current key set, fetched for this token, does not hold its key."""


class ProviderUnavailable(Exception):
    """The key is not held and cannot be looked up now: try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"identity provider unavailable; retry in {retry_after:.0f} s")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True, eq=False)  # compared by identity: a fetched key object is not hashable
class SigningKey:
    kid: str
    algorithm: str  # the one `alg` a token signed with this key may name
    public_key: Any


class SigningKeys:
    """The key set of one JWKS URL, cached by kid (see the module's docstring)."""

    def __init__(self, url: str, *, timeout: float, cooldown: float, max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._cooldown = cooldown
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}  # replaced whole by each fetch: read lock-free
        self._fetched_at: float | None = None  # when the last fetch that succeeded began
        # Kids missing from the latest set fetched after their token came (a repeated made-up
        # one is a 401 without a fetch); emptied by each fetch.
        self._absent: set[str] = set()
        self._attempted_at: float | None = None  # the last fetch, whatever its outcome
        self._fetching = threading.Lock()  # one fetch at a time, held across it
        # Held briefly, never across a fetch: a held key's request decides under it whether to
        # start a background fetch, and the fetch swaps in the new set under it.
        self._state = threading.Lock()
        self._refreshing = False  # a background fetch is started or running

    def key(self, kid: str) -> SigningKey:
        """The key `kid` names; raises UnknownSigningKey or ProviderUnavailable."""
        held = self._keys.get(kid)
        if held is not None:
            self._refresh_if_stale()
            return held
        arrived = self._clock()
        with self._fetching:
            held = self._keys.get(kid)  # fetched by another request while this one waited
            if held is not None:
                return held
            fetched_since = self._fetched_at is not None and self._fetched_at >= arrived
            if kid in self._absent or fetched_since:
                self._remember_absent(kid)
                raise UnknownSigningKey(kid)
            wait = self._cooldown_left()
            if wait > 0:
                raise ProviderUnavailable(wait)
            self._fetch()
            held = self._keys.get(kid)
            if held is None:
                self._remember_absent(kid)
                raise UnknownSigningKey(kid)
            return held

    def _remember_absent(self, kid: str) -> None:
        """`kid` is not in a set fetched after its token came: refused until the next fetch."""
        if len(self._absent) < MAX_ABSENT_KIDS:
            self._absent.add(kid)

    def _cooldown_left(self) -> float:
        if self._attempted_at is None:
            return 0.0
        return self._attempted_at + self._cooldown - self._clock()

    def _fetch(self) -> None:
        """Fetch the set (the caller holds `_fetching`); raises ProviderUnavailable."""
        started = self._attempted_at = self._clock()
        try:
            fetched = self._client.get_signing_keys(refresh=True)
        # Unreachable, an error status, cut off (OSError), not JSON (ValueError), not a JWKS,
        # no usable key.
        except (PyJWTError, OSError, ValueError) as error:
            log.warning("identity provider's JWKS fetch failed; keeping %d known keys: %s",
                        len(self._keys), error)
            raise ProviderUnavailable(self._cooldown) from None
        keys = {}
        for jwk in fetched:
            expected = KEY_TYPES.get(jwk.algorithm_name)
            if expected is not None and isinstance(jwk.key, expected) and jwk.key_id \
                    and len(jwk.key_id) <= MAX_KID_LENGTH:
                keys[jwk.key_id] = SigningKey(jwk.key_id, jwk.algorithm_name, jwk.key)
        with self._state:
            self._keys = keys
            self._absent = set()
            self._fetched_at = started
        log.info("identity provider's JWKS fetched: %d usable keys", len(keys))

    def _refresh_if_stale(self) -> None:
        """Start a background fetch when the set is old; never waits for one."""
        with self._state:
            stale = self._fetched_at is None or \
                self._clock() - self._fetched_at >= self._max_age
            if self._refreshing or not stale or self._cooldown_left() > 0:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="jwks-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            with self._fetching:
                fresh = self._fetched_at is not None and \
                    self._clock() - self._fetched_at < self._max_age
                if not fresh:  # else a request fetched it while this thread started
                    self._fetch()
        except ProviderUnavailable:
            pass  # logged; the keys we had stay
        finally:
            with self._state:
                self._refreshing = False


def _build() -> SigningKeys | None:
    settings = get_settings()
    if settings.jwt_jwks_url is None:
        return None
    return SigningKeys(settings.jwt_jwks_url, timeout=settings.jwt_jwks_timeout_seconds,
                       cooldown=settings.jwt_jwks_cooldown_seconds,
                       max_age=settings.jwt_jwks_max_age_seconds)


# This process's key set (None without JWT_JWKS_URL), built anew when the settings change.
identity_provider_keys = per_settings(_build)
