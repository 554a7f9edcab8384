"""Flower as an attacker finds it: everything it serves (the UI, its API, `/metrics`,
`/healthcheck`, static files, error pages) is a 401 without the right credentials, and it
listens on loopback only unless `FLOWER_ADDRESS` says otherwise.

Flower runs as the real process, from the Procfile's own line, on the test run's Redis.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.processes import free_port
from tests.support.flower import PASSWORD, USER, start_flower
from tests.support.hostile import tried

pytestmark = pytest.mark.usefixtures("stack")

# What an outsider would ask for: the pages, the API (reads and a control command), the
# Prometheus metrics and the health check, a static file, the login and a made-up page.
PATHS = ["/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks",
         "/api/task/types", "/api/queues/length", "/metrics", "/healthcheck",
         "/static/css/flower.css", "/login", "/logout", "/no-such-page", "/metrics/",
         "/%2e%2e/metrics"]
AUTHORIZED_200 = ["/", "/metrics", "/healthcheck", "/api/workers"]
BAD_CREDENTIALS = {
    "none": None,
    "wrong password": "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode(),
    "wrong user": "Basic " + base64.b64encode(f"root:{PASSWORD}".encode()).decode(),
    "password only": "Basic " + base64.b64encode(PASSWORD.encode()).decode(),
    "prefix of the pair": "Basic " + base64.b64encode(f"{USER}:{PASSWORD[:-1]}".encode())
    .decode(),
    "not base64": "Basic !!!!",
    "bearer": f"Bearer {USER}:{PASSWORD}",
    "empty basic": "Basic ",
    "raw pair": f"Basic {USER}:{PASSWORD}",
}


@pytest.fixture(scope="module")
def flower(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    service = start_flower(tmp_path_factory.mktemp("flower"), port)
    yield f"http://127.0.0.1:{port}"
    service.stop()


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("path", PATHS)
def test_everything_is_401_without_the_credentials(flower: str, path: str,
                                                   credentials: str) -> None:
    tried("flower")
    header = BAD_CREDENTIALS[credentials]
    answer = requests.get(flower + path, timeout=10, allow_redirects=False,
                          headers={"Authorization": header} if header else {})
    assert answer.status_code == 401, (path, credentials, answer.status_code, answer.text[:200])
    assert answer.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert "celery" not in answer.text.lower() and "worker" not in answer.text.lower()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_401_too(flower: str, method: str) -> None:
    tried("flower")
    answer = requests.request(method, f"{flower}/api/worker/shutdown/worker@host", timeout=10)
    assert answer.status_code == 401, (method, answer.status_code)


@pytest.mark.parametrize("path", AUTHORIZED_200)
def test_with_the_credentials_it_serves(flower: str, path: str) -> None:
    answer = requests.get(flower + path, auth=(USER, PASSWORD), timeout=15)
    assert answer.status_code == 200, (path, answer.text[:200])


def non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_it_listens_on_loopback_only(flower: str) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has only a loopback address")
    port = int(flower.rsplit(":", 1)[1])
    assert _reachable("127.0.0.1", port)
    assert not _reachable(address, port), f"flower answers on {address}:{port}"


def test_flower_address_opens_it_elsewhere(tmp_path: Path) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has only a loopback address")
    port = free_port()
    service = start_flower(tmp_path, port, FLOWER_ADDRESS="0.0.0.0")
    try:
        assert requests.get(f"http://{address}:{port}/metrics", timeout=10).status_code == 401
    finally:
        service.stop()
