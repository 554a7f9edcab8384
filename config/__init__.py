"""Typed settings, parsed once from the environment (API guide §1).

A `.env` file in the working directory may supply development defaults; real environment
variables always win.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.vapid import vapid_public_key

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/headshots"
    redis_url: str = "redis://localhost:6379/0"
    jwt_secret: str = DEV_JWT_SECRET
    # Sign-in with an identity provider (§2): its JWKS URL. Set, tokens are RS256 or ES256,
    # signed by one of the keys published there, with `iss` == JWT_ISSUER and `aud` ==
    # JWT_AUDIENCE (both required with it: a provider signs tokens for many apps). Unset,
    # tokens are HS256 with JWT_SECRET (development), and `iss`/`aud` are checked when set.
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # With JWT_JWKS_URL: accept HS256 tokens with JWT_SECRET as well (a staging convenience;
    # off, nobody holding JWT_SECRET can sign a user in).
    jwt_allow_hs256: bool = False
    # The key set is fetched again in the background once it is this old (a key the provider
    # removed stops working then), and at most once per cooldown for tokens naming a key we
    # do not hold: a flood of made-up key ids costs the provider one fetch per cooldown.
    jwt_jwks_max_age_seconds: float = Field(default=600, gt=0)
    jwt_jwks_cooldown_seconds: float = Field(default=10, ge=0)
    # Short: a request with a new key id waits this long at most for the provider.
    jwt_jwks_timeout_seconds: float = Field(default=2, gt=0)
    # Browser origins allowed to call /api (CORS), comma-separated, each
    # `scheme://host[:port]` exactly as browsers send it; empty: none.
    cors_origins: str = ""
    getimg_api_url: str = "https://api.getimg.ai"
    getimg_api_key: str | None = None
    media_root: Path = Path("./var/media")
    port: int = 8000
    public_base_url: str = ""
    original_retention_minutes: int = Field(default=30, ge=1)
    flower_basic_auth: str | None = None
    notify_webhook_url: str | None = None
    notify_webhook_secret: str | None = None  # `whsec_<base64>`, Standard Webhooks
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)  # doubles per attempt, to 1 h
    # Push notifications (§13), each provider on when its settings are set. Web Push: the VAPID
    # key pair's private half, base64url, as `web-push generate-vapid-keys` prints it.
    vapid_private_key: str | None = None
    vapid_subject: str | None = None  # mailto:ops@example.com or https://example.com
    # FCM HTTP v1: a service account's JSON key file (its project_id, token_uri are used).
    fcm_credentials_file: Path | None = None
    fcm_endpoint_url: str = "https://fcm.googleapis.com"
    # APNs token auth: the .p8 key, its id, the team, the app's bundle id.
    apns_key_file: Path | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None
    apns_endpoint_url: str = "https://api.push.apple.com"
    # A CA bundle to trust for APNs besides the system's (a test's self-signed server).
    apns_ca_file: Path | None = None
    # Accept Web Push endpoints on http://127.0.0.1 or localhost (tests, a local push server);
    # otherwise only https endpoints are registered.
    push_allow_loopback_endpoints: bool = False
    # Where images live: `local` (under MEDIA_ROOT) or `s3` (any S3-compatible store; the
    # credentials come the standard AWS way: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a
    # profile, an instance role).
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # unset: AWS itself; R2, MinIO: their URL
    s3_region: str | None = None  # unset: boto3's own default (AWS_DEFAULT_REGION, config)
    # How long the store's presigned URL, that /media redirects to, lives.
    s3_presign_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # Beyond docs/api.md §1's list: tuning knobs with safe defaults.
    media_url_ttl_seconds: int = Field(default=3600, ge=60)
    getimg_connect_timeout_seconds: float = 5.0
    getimg_timeout_seconds: float = 120.0
    getimg_max_attempts: int = Field(default=4, ge=1)
    getimg_retry_base_seconds: float = 2.0
    getimg_retry_max_seconds: float = 60.0
    # What a GetImg call usually takes: drives the progress shown while we wait on it.
    getimg_expected_seconds: float = Field(default=20.0, gt=0)
    # What a GetImg call that is billed without a reported price (abandoned on a cancel, timed
    # out) is taken to cost when no call of its model and resolution was invoiced yet (USD).
    getimg_assumed_call_cost_usd: float = Field(default=0.03, ge=0)
    job_queue_timeout_seconds: int = 300
    # The longest one attempt may hold a job, alive or hung; a dead worker's jobs go back
    # sooner, when their lease runs out.
    job_processing_timeout_seconds: int = 300
    # A running attempt's lease on its job, renewed every JOB_LEASE_RENEW_SECONDS while it
    # works: a worker that dies (SIGKILL, host lost) loses its jobs a lease later.
    job_lease_seconds: float = Field(default=30, gt=0)
    job_lease_renew_seconds: float = Field(default=10, gt=0)
    # GetImg calls in flight at once across every worker (API guide §1): a Redis semaphore.
    getimg_max_concurrency: int = Field(default=8, ge=1)
    # How long a task waits for a free GetImg slot before it gives the job back to the queue
    # (the job stays queued; no attempt is spent).
    getimg_slot_wait_seconds: float = Field(default=20, gt=0)
    # SIGTERM to a worker: its attempts get this long to finish, then it hands their jobs
    # back to the queue (under the platforms' usual 30 s before SIGKILL).
    worker_shutdown_grace_seconds: float = Field(default=20, ge=0)
    worker_concurrency: int = 16
    # The Celery worker's own /metrics (workers/metrics.py); unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # Takes over the jobs of dead workers (expired leases) and republishes the queue after
    # Redis lost it: a few times per lease.
    reaper_interval_seconds: float = Field(default=10, gt=0)
    cleanup_interval_seconds: float = Field(default=300, gt=0)
    upload_max_bytes: int = 10 * 1024 * 1024
    # Child processes per web process that check and re-encode uploads (media/work_processes.py):
    # more uploads at once wait for one of them, and never hold the web process's other requests.
    image_work_processes: int = Field(default=2, ge=1)
    # Per user. The app polls each job's status about once a second; a batch of five with
    # margin fits the status limit.
    rate_limit_enabled: bool = True
    rate_limit_writes: str = "30/minute"  # one budget across all of a user's write routes
    rate_limit_admin: str = "120/minute"  # per operator, across the /api/admin routes
    rate_limit_events: str = "240/minute"  # the app reports events as the user taps around
    rate_limit_exports: str = "60/minute"  # each one decodes and re-encodes a full image
    # Refunded cancels of jobs already processing (their GetImg call paid for by us): past
    # it, such a cancel is refused and the job runs on (docs/api.md §6, "Cancelling a headshot").
    rate_limit_processing_cancels: str = "3/hour;10/day"
    rate_limit_status_per_minute: int = Field(default=1200, ge=1)
    # How long a web process answers polls of a job that is not queued from what it learned
    # by pub/sub (services/status_mirror.py) before it asks Redis again; 0: always ask Redis.
    status_mirror_seconds: float = Field(default=30, ge=0)
    # How long a request may take to arrive (the `web` process; api/request_arrival.py):
    # its head (request line and headers), then its body: REQUEST_ARRIVAL_SECONDS plus the
    # time its Content-Length takes at REQUEST_BODY_MIN_BYTES_PER_SECOND, at most
    # REQUEST_BODY_MAX_SECONDS. A client that misses it gets its connection closed.
    request_arrival_seconds: float = Field(default=10, gt=0)
    request_body_min_bytes_per_second: int = Field(default=32 * 1024, ge=1)
    request_body_max_seconds: float = Field(default=120, gt=0)
    # Open status streams (services/stream_slots.py), counted in Redis across every web
    # process: per user, and in all. Each holds a lease renewed while it streams, so the
    # slots of a process that died free themselves within STREAM_LEASE_SECONDS.
    stream_max_per_user: int = Field(default=5, ge=1)
    stream_max_open: int = Field(default=1000, ge=1)
    stream_lease_seconds: float = Field(default=30, ge=3)
    # Extra bases whose signed media URLs `generate` accepts (an operator allow-list).
    allowed_image_bases: list[str] = []
    # One JSON object per log line (config/logs.py); `text` is the classic line, for a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://localhost:{self.port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET is required with STORAGE_BACKEND=s3")
        if self.notify_webhook_url == "":
            self.notify_webhook_url = None
        if self.notify_webhook_url and not (self.notify_webhook_secret or "").startswith("whsec_"):
            raise ValueError("NOTIFY_WEBHOOK_SECRET (whsec_...) is required with "
                             "NOTIFY_WEBHOOK_URL")
        self._check_push()
        if self.job_lease_renew_seconds * 2 > self.job_lease_seconds:
            raise ValueError("JOB_LEASE_RENEW_SECONDS must be at most half of "
                             "JOB_LEASE_SECONDS: one late renewal must not lose the lease")
        self._check_identity_provider()
        self.cors_origins = ",".join(_cors_origins(self.cors_origins))
        if self.jwt_secret == DEV_JWT_SECRET:
            warnings.warn(
                "JWT_SECRET is not set: using the development-only default. "
                "Never run production like this.",
                stacklevel=2,
            )
        return self

    def _check_identity_provider(self) -> None:
        if not self.jwt_jwks_url:
            self.jwt_jwks_url = None
            return
        url = urlsplit(self.jwt_jwks_url)
        local = (url.hostname or "") in LOCAL_HOSTS
        if url.scheme != "https" and not (url.scheme == "http" and local):
            raise ValueError("JWT_JWKS_URL must be an https URL (http only on loopback)")
        if not self.jwt_issuer or not self.jwt_audience:
            raise ValueError("JWT_ISSUER and JWT_AUDIENCE are required with JWT_JWKS_URL: "
                             "the provider signs tokens for other apps too")

    @property
    def hs256_accepted(self) -> bool:
        """Whether HS256 tokens signed with JWT_SECRET sign a user in."""
        return self.jwt_jwks_url is None or self.jwt_allow_hs256

    @property
    def allowed_cors_origins(self) -> frozenset[str]:
        return frozenset(filter(None, self.cors_origins.split(",")))

    def _check_push(self) -> None:
        # Half a provider's settings is a mistake to refuse at start, not a silent "off".
        for names in (("vapid_private_key", "vapid_subject"),
                      ("apns_key_file", "apns_key_id", "apns_team_id", "apns_topic")):
            given = [name for name in names if getattr(self, name)]
            if given and len(given) < len(names):
                missing = ", ".join(n.upper() for n in names if n not in given)
                raise ValueError(f"{missing} required with {given[0].upper()}")
        if self.vapid_subject and not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("VAPID_SUBJECT must be a mailto: or https: URL")
        if self.vapid_private_key:
            vapid_public_key(self.vapid_private_key)  # a key that cannot sign refuses to start

    @property
    def vapid_public_key(self) -> str | None:
        """The applicationServerKey web clients subscribe with (§13); None while Web Push is
        off."""
        return vapid_public_key(self.vapid_private_key) if self.vapid_private_key else None

    @property
    def push_platforms(self) -> frozenset[str]:
        """The device platforms push is on for: `web`, `android`, `ios` (§13)."""
        platforms = set()
        if self.vapid_private_key:
            platforms.add("web")
        if self.fcm_credentials_file:
            platforms.add("android")
        if self.apns_key_file:
            platforms.add("ios")
        return frozenset(platforms)

    def as_environment(self) -> dict[str, str]:
        """The environment variables that give another process these settings (the ones set
        explicitly), e.g. a worker or web server a test starts."""
        environment = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is None:
                continue
            environment[name.upper()] = (
                json.dumps(value) if isinstance(value, list) else str(value)
            )
        return environment

    @property
    def media_signing_key(self) -> bytes:
        # A key of its own, derived so that a media signature can never pass as a JWT one.
        return hashlib.sha256(b"headshots-media-url:" + self.jwt_secret.encode()).digest()

    @property
    def getimg_is_local_fake(self) -> bool:
        return (urlsplit(self.getimg_api_url).hostname or "") in LOCAL_HOSTS

    @property
    def getimg_request_key(self) -> str | None:
        # The local fake wants some `sk_` key; the real API gets only the configured one.
        return self.getimg_api_key or ("sk_local_fake" if self.getimg_is_local_fake else None)

    @property
    def sqlalchemy_url(self) -> str:
        # Accept Heroku-style postgres:// URLs as well as SQLAlchemy ones.
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg2://" + url[len(prefix) :]
        return url


def _cors_origins(listed: str) -> list[str]:
    """The origins of CORS_ORIGINS, checked: a browser's `Origin` is `scheme://host[:port]`,
    lower-case, with no path, so anything else could never match."""
    origins = []
    for entry in filter(None, (part.strip() for part in listed.split(","))):
        origin = entry.lower().rstrip("/")
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.hostname or url.path or url.query \
                or url.fragment or url.username is not None:
            raise ValueError(f"CORS_ORIGINS: {entry!r} is not an origin (scheme://host[:port])")
        origins.append(origin)
    return origins


_current: Settings | None = None
Built = TypeVar("Built")


def get_settings() -> Settings:
    """This process's settings: the ones `use_settings` installed, else the environment's."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def use_settings(settings: Settings) -> Settings:
    """Make `settings` this process's (`create_app` and the Celery app do; so do tests).
    Everything built from the previous ones (`per_settings`) is built anew on next use."""
    global _current
    _current = settings
    return settings


def per_settings(build: Callable[[], Built]) -> Callable[[], Built]:
    """A process-wide object built from the current settings (an engine, a Redis client),
    built once, and again only if other settings are installed."""
    held: dict[str, tuple[Settings, Built]] = {}
    building = threading.Lock()  # 16 worker threads asking at once build it once

    @functools.wraps(build)
    def current() -> Built:
        settings = get_settings()
        value = held.get("value")
        if value is None or value[0] is not settings:
            with building:
                value = held.get("value")
                if value is None or value[0] is not settings:
                    value = held["value"] = (settings, build())
        return value[1]

    return current
