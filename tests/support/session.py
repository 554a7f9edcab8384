"""This test run's own places: ports, a run directory, a database name, and the settings that
point at them.

Nothing here starts anything: the session fixtures of tests/conftest.py start each service
the first time a test asks for it, so a unit-only run starts none.
"""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from pathlib import Path

from devstack.database import database_url
from devstack.object_store import TEST_CREDENTIALS, TEST_REGION, endpoint_url
from devstack.processes import WORKER_QUEUES, free_port
from fakes.webhook_receiver import webhook_url
from tests.support.push import PushCredentials, make_push_credentials, push_settings
from tests.support.users import TEST_JWT_SECRET

PORTS: dict[str, int] = {}
RUN_DIR = Path(tempfile.mkdtemp(prefix="headshots-test-"))  # service logs and media
DB_NAME = f"headshots_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
# Where this run keeps images: `local` (RUN_DIR/media), or `s3` (the `object_store` fixture's
# moto server). CI runs the storage-heavy tests a second time with HEADSHOTS_TEST_STORAGE=s3.
STORAGE_BACKEND = os.environ.get("HEADSHOTS_TEST_STORAGE", "local")
TEST_BUCKET = "headshots-test"
PUSH: list[PushCredentials] = []  # this run's, made by install_test_settings


def install_test_settings() -> None:
    """Build this run's `Settings` and install them as the process's; the processes the tests
    start get the same settings through the environment."""
    from config import Settings, use_settings

    PORTS.update(redis=free_port(), getimg=free_port(), web=free_port(), webhooks=free_port(),
                 worker_metrics=free_port(), s3=free_port(), webpush=free_port(),
                 fcm=free_port(), apns=free_port())
    if STORAGE_BACKEND not in ("local", "s3"):
        raise ValueError(f"HEADSHOTS_TEST_STORAGE must be local or s3, not {STORAGE_BACKEND!r}")
    object_store = {
        "storage_backend": "s3", "s3_bucket": TEST_BUCKET,
        "s3_endpoint_url": endpoint_url(PORTS["s3"]), "s3_region": TEST_REGION,
    } if STORAGE_BACKEND == "s3" else {}
    # The moto server's, in this process and every process it starts.
    os.environ.update(TEST_CREDENTIALS)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    # Push on for every provider, each at its fake (the `push_providers` fixture starts them);
    # only a user who registers a device gets notifications.
    PUSH.append(make_push_credentials(RUN_DIR / "push", PORTS))
    settings = use_settings(Settings(
        database_url=database_url(DB_NAME),
        redis_url=f"redis://127.0.0.1:{PORTS['redis']}/0",
        jwt_secret=TEST_JWT_SECRET,
        getimg_api_url=f"http://127.0.0.1:{PORTS['getimg']}",
        getimg_api_key="sk_test_key",
        media_root=RUN_DIR / "media",
        public_base_url=f"http://127.0.0.1:{PORTS['web']}",
        getimg_timeout_seconds=10,
        getimg_retry_base_seconds=0.2,
        getimg_retry_max_seconds=1,
        getimg_max_attempts=3,
        getimg_expected_seconds=2,
        # The main app's webhook endpoint: every job that ends notifies it (the `webhooks`
        # fixture listens there once a test or the worker needs it).
        notify_webhook_url=webhook_url(PORTS["webhooks"]),
        notify_webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base_seconds=0.2,
        **object_store,  # type: ignore[arg-type]
        **push_settings(PUSH[0], PORTS),
    ))
    os.environ.update(settings.as_environment())


def drop_queued_tasks() -> None:
    """Drop every task message waiting in this run's Redis.

    In-process tests queue jobs with no worker to take them; without this, the first test that
    starts the session's worker would inherit their GetImg calls (and, say, see its scripted
    GetImg fault taken by another test's job).
    """
    from workers.celery_app import celery_app

    with celery_app.connection_for_write() as connection:
        for queue in WORKER_QUEUES.split(","):
            connection.default_channel.queue_purge(queue)
