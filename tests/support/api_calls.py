"""Calls the tests make against the in-process Flask app, as the mobile app would."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

from tests.support.assets import SELFIE
from tests.support.users import auth, new_user_id


def grant(client: Any, user_id: int, amount: int) -> Any:
    """An operator's grant; each by an operator of its own, so the operators' per-operator
    budget (RATE_LIMIT_ADMIN) never runs out across a test run's many grants."""
    response = client.post(f"/api/admin/users/{user_id}/credits",
                           headers=auth(new_user_id(), role="admin"),
                           json={"amount": amount, "reason": "test grant"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def upload(client: Any, user_id: int, data: bytes | None = None, filename: str = "me.jpg"
           ) -> Any:
    payload = SELFIE.read_bytes() if data is None else data
    return client.post("/api/uploads", headers=auth(user_id),
                       data={"image": (BytesIO(payload), filename)},
                       content_type="multipart/form-data")


def uploaded_url(client: Any, user_id: int, path: Path = SELFIE) -> str:
    response = upload(client, user_id, path.read_bytes())
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["imageUrl"])


def generate(client: Any, user_id: int, image_url: str, style: str = "corporate",
             aspect_ratio: str = "1:1", **headers: str) -> Any:
    return client.post("/api/headshots/generate", headers={**auth(user_id), **headers},
                       json={"imageUrl": image_url, "style": style, "aspectRatio": aspect_ratio})


def me(client: Any, user_id: int) -> dict[str, Any]:
    response = client.get("/api/me", headers=auth(user_id))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def history_item(client: Any, user_id: int, generation_id: int) -> dict[str, Any]:
    """The job as `GET /api/headshots/history/{id}` shows it to its owner."""
    body: dict[str, Any] = client.get(f"/api/headshots/history/{generation_id}",
                                      headers=auth(user_id)).get_json()
    return body
