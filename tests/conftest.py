"""The test session: this run's settings, the tiers, and the services, each started the first
time a test asks for it (a database of this run's own, a Redis of its own, the fake GetImg, a
real Celery worker and a real gunicorn server).

`pytest_configure` installs this run's `Settings` as the process's (it starts nothing); the
processes the tests start get the same settings through their environment.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.database import create_database, drop_database, migrate
from devstack.object_store import endpoint_url, s3_service, wait_for_s3
from devstack.processes import (
    Service,
    redis_service,
    wait_for_redis,
    wait_for_web,
    wait_for_worker,
    web_service,
    worker_service,
)
from fakes.getimg.process import FakeGetImg, start_fake_getimg
from fakes.push.apns import FakeApns
from fakes.push.fcm import FakeFcm
from fakes.push.webpush import FakeWebPush
from fakes.webhook_receiver import WebhookReceiver
from tests.support.ledger import assert_ledger_consistent
from tests.support.push import APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, FCM_PROJECT, PushFakes
from tests.support.session import (
    DB_NAME,
    PORTS,
    PUSH,
    RUN_DIR,
    STORAGE_BACKEND,
    TEST_BUCKET,
    WEBHOOK_SECRET,
    drop_queued_tasks,
    install_test_settings,
)
from tests.support.tiers import mark_tiers, order_by_tier


def pytest_configure(config: pytest.Config) -> None:
    install_test_settings()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_tiers(items)
    items[:] = order_by_tier(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:  # a failed run keeps its service logs for a look
        shutil.rmtree(RUN_DIR, ignore_errors=True)


# ---- services ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """This run's own database, migrated with the project's Alembic chain, dropped at the end."""
    url = create_database(DB_NAME)
    migrate(url)
    yield url
    from models.db import get_engine

    get_engine().dispose()
    drop_database(DB_NAME)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Service]:
    service = redis_service(PORTS["redis"], RUN_DIR).start()
    wait_for_redis(PORTS["redis"], timeout=10)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def object_store() -> Iterator[str]:
    """The run's S3 server (moto's, on loopback) with the bucket TEST_BUCKET; its endpoint."""
    service = s3_service(PORTS["s3"], RUN_DIR).start()
    endpoint = endpoint_url(PORTS["s3"])
    wait_for_s3(service, endpoint, bucket=TEST_BUCKET)
    yield endpoint
    service.stop()


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, database: str,
          redis_server: Service) -> dict[str, int]:
    """PostgreSQL + Redis (+ the S3 server when the run keeps its images there): enough for
    in-process API and domain tests."""
    if STORAGE_BACKEND == "s3":
        request.getfixturevalue("object_store")
    return PORTS


@pytest.fixture(scope="session")
def getimg() -> Iterator[FakeGetImg]:
    fake = start_fake_getimg(PORTS["getimg"])
    yield fake
    fake.stop()


@pytest.fixture
def fake_getimg(getimg: FakeGetImg) -> Iterator[FakeGetImg]:
    """The fake GetImg, back to its start-up behaviour after the test."""
    getimg.reset()
    yield getimg
    getimg.reset()


@pytest.fixture(scope="session")
def webhooks() -> Iterator[WebhookReceiver]:
    """The run's webhook receiver (it verifies every signature it gets)."""
    with WebhookReceiver(WEBHOOK_SECRET, port=PORTS["webhooks"]) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def push_providers() -> Iterator[PushFakes]:
    """The run's fake Web Push service, FCM (with its token endpoint) and APNs (HTTP/2, TLS),
    on the ports the run's settings point push at."""
    credentials = PUSH[0]
    with FakeWebPush(credentials.vapid.public, port=PORTS["webpush"]) as webpush, \
            FakeFcm(public_key=credentials.fcm_public, client_email=credentials.fcm_email,
                    project_id=FCM_PROJECT, port=PORTS["fcm"]) as fcm, \
            FakeApns(public_key=credentials.apns_public, key_id=APNS_KEY_ID,
                     team_id=APNS_TEAM_ID, topic=APNS_TOPIC, cert_file=credentials.tls_cert,
                     key_file=credentials.tls_key, port=PORTS["apns"]) as apns:
        yield PushFakes(webpush, fcm, apns)


@pytest.fixture
def push(push_providers: PushFakes) -> Iterator[PushFakes]:
    """The push fakes, failing no first attempts after the test."""
    yield push_providers
    for fake in push_providers.all:
        fake.deliveries.failures_per_message = 0


@pytest.fixture(scope="session")
def worker(stack: dict[str, int], getimg: FakeGetImg,
           webhooks: WebhookReceiver) -> Iterator[Service]:
    """A real Celery worker subprocess consuming this run's Redis, calling the fake GetImg and
    delivering webhooks to the run's receiver; its metrics on 127.0.0.1:PORTS["worker_metrics"]."""
    drop_queued_tasks()
    service = worker_service("worker", RUN_DIR,
                             env={"WORKER_METRICS_PORT": str(PORTS["worker_metrics"])}).start()
    wait_for_worker(service)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def web(stack: dict[str, int]) -> Iterator[str]:
    """The real `web` process (gunicorn) on a free port; yields its base URL."""
    service = web_service(PORTS["web"], RUN_DIR).start()
    base = os.environ["PUBLIC_BASE_URL"]
    wait_for_web(service, base)
    yield base
    service.stop()


# ---- the Flask app in-process -------------------------------------------------------------------


@pytest.fixture(scope="session")
def app(stack: dict[str, int]) -> Any:
    from api import create_app
    from config import get_settings

    return create_app(get_settings())


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


# ---- the money invariant ----------------------------------------------------------------------


@pytest.fixture
def ledger_invariant(stack: dict[str, int]) -> Iterator[None]:
    """Asserts after the test that every balance equals the sum of its ledger and is >= 0."""
    yield
    assert_ledger_consistent()
