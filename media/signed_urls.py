"""Signed, expiring media URLs, so that no face is reachable without authorization.

A URL is `{public_base_url}/media/{storage_key}?exp=<unix seconds>&sig=<signature>` where the
signature is the unpadded URL-safe base64 of HMAC-SHA256 over the key and the expiry.
`storage_key_from_url` is also the gate for image URLs sent back to the service (generation
requests): it accepts only URLs this service issued, for its own origin, still valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import SplitResult, parse_qsl, urlsplit

from media.storage import STORAGE_KEY_RE, is_valid_key, validate_key

MEDIA_PATH = "/media/"
DEFAULT_MAX_TTL_SECONDS = 30 * 24 * 3600
MAX_URL_LENGTH = 2048
# Expiries fall on a grid of this step, so a URL stays the same for a whole step (an app's
# image cache keeps an image by its URL): a URL lives `ttl_seconds` and up to one step more.
EXPIRY_STEP_SECONDS = 3600
SIGNED_KEPT = 4_096  # signed URLs kept per signer, then forgotten all at once (a memory bound)

_DEFAULT_PORTS = {"http": 80, "https": 443}
EXP_PATTERN = re.compile(r"[0-9]{1,12}")
SIGNATURE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, unpadded URL-safe base64
# The shape of every URL `sign` makes (any origin: the document cannot know which are this
# service's), for the document to state; `storage_key_from_url` checks the rest.
SIGNED_URL_PATTERN = (rf"^https?://[^/?#\s\\]+(?:/[^?#\s\\]*)?{MEDIA_PATH}"
                      rf"(?:{STORAGE_KEY_RE.pattern})\?exp={EXP_PATTERN.pattern}"
                      rf"&sig={SIGNATURE_PATTERN.pattern}$")
# Versioned, domain-separated message so these signatures can't be confused with other HMACs
# made from the same secret.
_SIGNATURE_CONTEXT = b"headshots-media-url-v1\n"


def url_signature(key: bytes, message: bytes) -> str:
    """The unpadded URL-safe base64 of HMAC-SHA256 over `message`, which starts with the
    context of its purpose (media here, status streams in `services/status_stream_urls.py`):
    the same key then never signs for two purposes alike."""
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def expiry_in(ttl_seconds: int, now: float) -> int:
    """`ttl_seconds` from `now`, up to the next multiple of EXPIRY_STEP_SECONDS: every answer
    within one step carries the same URL, which a client can keep, and which is signed once."""
    return -(-(int(now) + ttl_seconds) // EXPIRY_STEP_SECONDS) * EXPIRY_STEP_SECONDS


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path_prefix: str  # "" or "/something", never with a trailing slash


def _parse_base(base_url: str) -> _Origin:
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"base URL must be http(s)://host[:port][/prefix], got {base_url!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(f"base URL must not carry credentials: {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not have a query or fragment: {base_url!r}")
    port = parts.port or _DEFAULT_PORTS[scheme]
    return _Origin(scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))


def _origin_of(parts: SplitResult) -> tuple[str, str, int] | None:
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # non-numeric or out-of-range port
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


class MediaUrlSigner:
    """Issues and checks signed media URLs for one origin (plus operator-allowed extra ones)."""

    def __init__(
        self,
        *,
        key: bytes,
        public_base_url: str,
        ttl_seconds: int = 3600,
        extra_allowed_bases: Iterable[str] = (),
        max_ttl_seconds: int | None = None,
    ) -> None:
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError("the media signing key must be at least 16 bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._key = key
        self._ttl = ttl_seconds
        # Anything further in the future than this was not issued by us: refuse it.
        self._max_ttl = max(ttl_seconds, max_ttl_seconds or DEFAULT_MAX_TTL_SECONDS)
        self._origin = _parse_base(public_base_url)
        self._base_url = public_base_url.strip().rstrip("/")
        self._allowed = [self._origin, *(_parse_base(base) for base in extra_allowed_bases)]
        # URLs signed lately, by key and expiry: a job's status is polled every second or two,
        # and its URLs stay the same for a whole step, so signing them at each poll is waste.
        self._signed: dict[tuple[str, int], SignedUrl] = {}

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def window_expiry(self, now: float | None = None) -> int:
        """The expiry (unix seconds) of every URL signed now without its own `expires_at`:
        `now + ttl_seconds` rounded up to the next multiple of EXPIRY_STEP_SECONDS. Every
        answer within one step carries the same URL for the same image, and each URL still
        lives at least `ttl_seconds` from the moment it was handed out."""
        return expiry_in(self._ttl, time.time() if now is None else now)

    def _signature(self, storage_key: str, exp: int) -> str:
        return url_signature(self._key,
                             _SIGNATURE_CONTEXT + f"{storage_key}\n{exp}".encode("ascii"))

    def sign(
        self,
        storage_key: str,
        *,
        now: float | None = None,
        expires_at: datetime | None = None,
    ) -> SignedUrl:
        """A URL for `storage_key` valid until `window_expiry` (or until `expires_at`).

        A naive `expires_at` is taken as UTC. Raises InvalidKey for a malformed key and
        ValueError for an expiry in the past or beyond the maximum lifetime.
        """
        current = time.time() if now is None else now
        if expires_at is None:
            # On the grid: every answer within a step carries the same URL, which the app's
            # image cache can keep, and which is signed once here.
            exp = self.window_expiry(current)
        else:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            exp = int(expires_at.timestamp())
            if exp <= current:
                raise ValueError("expires_at is in the past")
            if exp > current + self._max_ttl:
                raise ValueError(f"expires_at is more than {self._max_ttl} seconds away")
        signed = self._signed.get((storage_key, exp))
        if signed is None:
            validate_key(storage_key)
            sig = self._signature(storage_key, exp)
            url = f"{self._base_url}{MEDIA_PATH}{storage_key}?exp={exp}&sig={sig}"
            signed = SignedUrl(url=url, expires_at=datetime.fromtimestamp(exp, UTC))
            if len(self._signed) >= SIGNED_KEPT:
                self._signed.clear()
            self._signed[(storage_key, exp)] = signed
        return signed

    def verify(self, storage_key: str, exp: str, sig: str, *, now: float | None = None) -> bool:
        """True only for a well-formed key with a valid, unexpired signature."""
        if not (isinstance(exp, str) and isinstance(sig, str) and is_valid_key(storage_key)):
            return False
        if EXP_PATTERN.fullmatch(exp) is None or SIGNATURE_PATTERN.fullmatch(sig) is None:
            return False
        expiry = int(exp)
        current = time.time() if now is None else now
        if expiry <= current or expiry > current + self._max_ttl:
            return False
        expected = self._signature(storage_key, expiry)
        return hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii"))

    def storage_key_from_url(self, url: str, *, now: float | None = None) -> str | None:
        """The storage key of a URL this service issued and that is still valid; else None."""
        if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or not url.isascii():
            return None
        # urlsplit silently drops tabs/newlines and leading control characters, and browsers
        # treat `\` as `/`: refuse all of them rather than reason about what they would mean.
        if any(char <= " " or char in "\\\x7f" for char in url):
            return None
        parts = urlsplit(url)
        origin = _origin_of(parts)
        if origin is None or "#" in url:  # any fragment, an empty one too
            return None
        for allowed in self._allowed:
            if origin != (allowed.scheme, allowed.host, allowed.port):
                continue
            prefix = allowed.path_prefix + MEDIA_PATH
            if not parts.path.startswith(prefix):
                continue
            key = parts.path[len(prefix) :]
            params = _exactly_exp_and_sig(parts.query)
            if params is not None and self.verify(key, params[0], params[1], now=now):
                return key
        return None


def _exactly_exp_and_sig(query: str) -> tuple[str, str] | None:
    """`exp` and `sig`, each exactly once and nothing else (no piggy-backed redirect targets)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if len(pairs) != 2 or "%" in query or "+" in query:
        return None
    values = dict(pairs)
    if set(values) != {"exp", "sig"}:
        return None
    return values["exp"], values["sig"]
