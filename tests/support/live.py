"""The one HTTP client of the tests that call a live server (gunicorn), as the mobile app does.

    server = LiveServer(web)                    # signed with the session's secret by default
    user = server.user(credits=3)               # a new user, granted credits by an admin
    response = user.generate(user.upload(), style="creative")
    body, progress_seen = user.wait_until_finished(response.json()["id"])

`requests` sessions are not safe to share between threads, so each thread gets its own; every
answer's status code is counted, so a suite can check afterwards that none was a 500.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from devstack.waiting import wait_until
from tests.support.assets import SELFIE
from tests.support.users import TEST_JWT_SECRET, make_token, new_user_id

FINISHED = ("completed", "failed")


class LiveServer:
    """A running server of the service at `base_url`, whose tokens are signed with `jwt_secret`."""

    def __init__(self, base_url: str, *, jwt_secret: str = TEST_JWT_SECRET) -> None:
        self.base_url = base_url
        self.jwt_secret = jwt_secret
        self.status_codes: Counter[int] = Counter()
        self._local = threading.local()
        # An operator of its own: each operator has a budget (RATE_LIMIT_ADMIN) that another
        # test's admin traffic (schemathesis, say) must not have spent.
        self.operator_id = new_user_id()

    def headers(self, user_id: int, *, role: str | None = None) -> dict[str, str]:
        token = make_token(user_id, role=role, secret=self.jwt_secret)
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, *, user_id: int | None = None,
             role: str | None = None, **kwargs: Any) -> requests.Response:
        """One request, signed in as `user_id` (with `role`) when given; 30 s unless told."""
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        headers = dict(kwargs.pop("headers", {}))
        if user_id is not None:
            headers.update(self.headers(user_id, role=role))
        response = http.request(method, self.base_url + path, headers=headers,
                                timeout=kwargs.pop("timeout", 30), **kwargs)
        self.status_codes[response.status_code] += 1
        return response

    def grant(self, user_id: int, amount: int, reason: str = "test") -> dict[str, Any]:
        response = self.call("POST", f"/api/admin/users/{user_id}/credits",
                             user_id=self.operator_id, role="admin",
                             json={"amount": amount, "reason": reason})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def user(self, credits: int = 0) -> LiveUser:
        return LiveUser(self, credits)


class LiveUser:
    """One signed-in user of a live server: a new id, granted `credits` if any."""

    def __init__(self, server: LiveServer, credits: int = 0) -> None:
        self.server = server
        self.user_id = new_user_id()
        self.headers = server.headers(self.user_id)
        if credits:
            server.grant(self.user_id, credits)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.server.call(method, path, user_id=self.user_id, **kwargs)

    def upload(self, path: Path = SELFIE) -> str:
        """Uploads the image; returns its signed `imageUrl`."""
        with path.open("rb") as image:
            response = self.call("POST", "/api/uploads", files={"image": image})
        assert response.status_code == 201, response.text
        return str(response.json()["imageUrl"])

    def generate(self, image_url: str, style: str = "corporate", aspect_ratio: str = "1:1",
                 **headers: str) -> requests.Response:
        return self.call("POST", "/api/headshots/generate", headers=headers,
                         json={"imageUrl": image_url, "style": style,
                               "aspectRatio": aspect_ratio})

    def queue(self, style: str = "corporate", aspect_ratio: str = "1:1") -> dict[str, Any]:
        """Uploads the selfie and generates from it, expecting 202; returns the job."""
        response = self.generate(self.upload(), style, aspect_ratio)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def status(self, generation_id: int) -> requests.Response:
        return self.call("GET", f"/api/headshots/status/{generation_id}")

    def wait_for_status(self, generation_id: int, wanted: tuple[str, ...] = FINISHED, *,
                        timeout: float = 60) -> tuple[dict[str, Any], list[tuple[str, int]]]:
        """Polls the job's status until it is one of `wanted`; returns the last status and
        every (status, progress) seen on the way."""
        seen: list[tuple[str, int]] = []

        def reached() -> dict[str, Any] | None:
            response = self.status(generation_id)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            seen.append((body["status"], body["progress"]))
            return body if body["status"] in wanted else None

        result = wait_until(reached, timeout=timeout, interval=0.1,
                            message=f"job {generation_id} to be {' or '.join(wanted)}")
        assert isinstance(result, dict)
        return result, seen

    def credits(self) -> int:
        return int(self.call("GET", "/api/me").json()["credits"])
