"""The web's line per request (api/request_log.py): INFO for every request but a status poll or
a probe answered 200, which the app (a load balancer) makes every second or two and which change
nothing: DEBUG."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.api_calls import generate, grant, uploaded_url
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, str]]:
    return [(record.levelno, record.__dict__["status"], record.__dict__["route"])
            for record in caplog.records if record.name == "api.requests"]


def test_a_successful_poll_logs_at_debug_and_the_rest_at_info(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    url = uploaded_url(client, user_id)
    with caplog.at_level(logging.DEBUG, logger="api.requests"):
        caplog.clear()
        job_id = generate(client, user_id, url).get_json()["id"]
        assert client.get(f"/api/headshots/status/{job_id}",
                          headers=auth(user_id)).status_code == 200
        assert client.get(f"/api/headshots/status/{job_id}",
                          headers=auth(new_user_id())).status_code == 404
    poll_route = "/api/headshots/status/<id:generation_id>"
    assert _request_lines(caplog) == [
        (logging.INFO, 202, "/api/headshots/generate"),
        (logging.DEBUG, 200, poll_route),
        (logging.INFO, 404, poll_route),  # not the owner's: worth a line
    ]


def test_at_info_a_successful_poll_writes_no_line(client: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    user_id = new_user_id()
    grant(client, user_id, 1)
    job_id = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    with caplog.at_level(logging.INFO, logger="api.requests"):
        caplog.clear()
        assert client.get(f"/api/headshots/status/{job_id}",
                          headers=auth(user_id)).status_code == 200
        assert client.get("/api/me", headers=auth(user_id)).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    assert _request_lines(caplog) == [(logging.INFO, 200, "/api/me")]
