"""The test stack: a database of this run's own, a Redis of its own, the fake GetImg, and on
demand a real Celery worker and a real gunicorn server.

`pytest_configure` builds this run's `Settings` and installs them as the process's; the
processes the tests start get the same settings through their environment.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from fakes.getimg.process import FakeGetImg, start_fake_getimg
from fakes.webhook_receiver import WebhookReceiver
from tests.processes import (
    ADMIN_DATABASE_URL,
    Service,
    create_database,
    drop_database,
    free_port,
    migrate,
    redis_service,
    wait_until,
    web_service,
    worker_service,
)

TEST_JWT_SECRET = "test-secret-" + uuid.uuid4().hex
PORTS: dict[str, int] = {}
RUN_DIR = Path(tempfile.mkdtemp(prefix="headshots-test-"))
DB_NAME = f"headshots_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
# The main app's webhook endpoint, for the whole run: every job that ends notifies it.
WEBHOOKS = WebhookReceiver(WEBHOOK_SECRET)


def pytest_configure(config: pytest.Config) -> None:
    from config import Settings, use_settings

    WEBHOOKS.__enter__()
    PORTS.update(redis=free_port(), getimg=free_port(), web=free_port(),
                 worker_metrics=free_port())
    settings = use_settings(Settings(
        database_url=ADMIN_DATABASE_URL.rsplit("/", 1)[0] + "/" + DB_NAME,
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
        notify_webhook_url=WEBHOOKS.url,
        notify_webhook_secret=WEBHOOK_SECRET,
        webhook_retry_base_seconds=0.2,
    ))
    os.environ.update(settings.as_environment())  # for the processes the tests start


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    WEBHOOKS.__exit__()
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
    from redis import Redis
    from redis.exceptions import RedisError

    service = redis_service(PORTS["redis"], RUN_DIR).start()
    client = Redis(port=PORTS["redis"])
    wait_until(client.ping, timeout=10, message="redis", ignore=(RedisError,))
    yield service
    service.stop()


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


@pytest.fixture
def webhooks() -> WebhookReceiver:
    """The run's webhook receiver (it verifies every signature it gets)."""
    return WEBHOOKS


@pytest.fixture(scope="session")
def stack(database: str, redis_server: Service, getimg: FakeGetImg) -> dict[str, int]:
    """Database + Redis + fake GetImg: enough for in-process API and domain tests."""
    return PORTS


def _worker_ready(service: Service) -> bool:
    if not service.running:
        raise RuntimeError(f"{service.name} exited:\n{service.log_tail()}")
    return " ready." in service.log_tail(20000)


def start_worker(name: str = "worker", concurrency: int = 4,
                 env: dict[str, str] | None = None) -> Service:
    service = worker_service(name, RUN_DIR, concurrency=concurrency, env=env).start()
    wait_until(lambda: _worker_ready(service), timeout=30, message=f"{name} to be ready")
    return service


@pytest.fixture(scope="session")
def worker(stack: dict[str, int]) -> Iterator[Service]:
    """A real Celery worker subprocess consuming this run's Redis; its metrics are served on
    127.0.0.1:PORTS["worker_metrics"]."""
    service = start_worker(env={"WORKER_METRICS_PORT": str(PORTS["worker_metrics"])})
    yield service
    service.stop()


@pytest.fixture(scope="session")
def web(stack: dict[str, int]) -> Iterator[str]:
    """The real `web` process (gunicorn) on a free port; yields its base URL."""
    service = web_service(PORTS["web"], RUN_DIR).start()
    base = os.environ["PUBLIC_BASE_URL"]

    def answering() -> bool:
        if not service.running:
            raise RuntimeError(f"web exited:\n{service.log_tail()}")
        return requests.get(base + "/healthz", timeout=5).status_code == 200

    wait_until(answering, timeout=30, message="web to answer",
               ignore=(requests.ConnectionError, requests.Timeout))
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


# ---- users, tokens and the money invariant ---------------------------------------------------


def make_token(user_id: int | str, *, role: str | None = None, expires_in: int = 3600,
               secret: str = TEST_JWT_SECRET, **claims: Any) -> str:
    payload: dict[str, Any] = {"sub": str(user_id), "exp": int(time.time()) + expires_in, **claims}
    if role:
        payload["role"] = role
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(user_id: int | str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user_id, **kwargs)}"}


ADMIN = auth(1, role="admin")


def new_user_id() -> int:
    return int(uuid.uuid4().int % 10**15) + 1000


@pytest.fixture
def ledger_invariant(stack: dict[str, int]) -> Iterator[None]:
    """Asserts after the test that every balance equals the sum of its ledger and is >= 0."""
    yield
    assert_ledger_consistent()


def assert_ledger_consistent() -> None:
    from models.credits import ledger_mismatches
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        assert ledger_mismatches(db_session) == []
