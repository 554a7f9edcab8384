"""Image sizes beside image URLs, and caching, through the real pipeline: gunicorn, a Celery
worker, the fake GetImg (§12). The sizes the answers state are those of the images /media
serves."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from PIL import Image

from fakes.getimg.process import FakeGetImg
from tests.support.live import LiveServer

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


def _served_size(url: str) -> tuple[int, int]:
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, url
    return Image.open(io.BytesIO(answer.content)).size


def _stated(image: dict[str, Any]) -> tuple[int, int]:
    return image["width"], image["height"]


@pytest.mark.parametrize("aspect_ratio", ["4:5", "9:16"])
def test_every_image_url_comes_with_the_size_it_is_served_at(
        web: str, fake_getimg: FakeGetImg, aspect_ratio: str) -> None:
    user = LiveServer(web).user(credits=1)
    job = user.queue(aspect_ratio=aspect_ratio)
    assert job["results"] == [] and job["thumbnail"] is None
    assert job["originalImage"]["url"] == job["originalImageUrl"]
    assert _stated(job["originalImage"]) == _served_size(job["originalImageUrl"]) == (512, 512)
    assert job["beforeImage"]["url"] == job["beforeImageUrl"]
    assert _stated(job["beforeImage"]) == _served_size(job["beforeImageUrl"])

    status, _ = user.wait_for_status(job["id"])
    assert status["status"] == "completed", status
    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    for shown in (status, item):
        assert [result["url"] for result in shown["results"]] == shown["resultUrls"]
        assert shown["thumbnail"]["url"] == shown["thumbnailUrl"]
    result_size = _served_size(item["resultUrls"][0])
    width, height = (int(side) for side in aspect_ratio.split(":"))
    assert abs(result_size[0] / result_size[1] - width / height) < 0.01
    thumbnail_size = _served_size(item["thumbnailUrl"])
    assert max(thumbnail_size) == 320
    for shown in (status, item):
        assert [_stated(result) for result in shown["results"]] == [result_size]
        assert _stated(shown["thumbnail"]) == thumbnail_size
    # The before image takes the headshot's shape, so a swipe-to-compare lines up (§13).
    before_size = _served_size(item["beforeImageUrl"])
    assert _stated(item["beforeImage"]) == before_size
    assert item["beforeImageUrl"] != job["beforeImageUrl"]
    assert max(before_size) == 512
    assert abs(before_size[0] / before_size[1] - width / height) < 0.01
    # It is the headshot's own file, deleted with it (the upload's preview goes with the
    # upload's last headshot, as before).
    assert user.call("DELETE", f"/api/headshots/history/{job['id']}").status_code == 204
    assert requests.get(item["beforeImageUrl"], timeout=10).status_code == 404


def test_a_finished_headshot_read_again_is_a_304_over_http(web: str,
                                                           fake_getimg: FakeGetImg) -> None:
    user = LiveServer(web).user(credits=1)
    job = user.queue()
    assert user.wait_for_status(job["id"])[0]["status"] == "completed"
    path = f"/api/headshots/history/{job['id']}"
    first = user.call("GET", path)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = user.call("GET", path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    # The media it points at: cacheable until the signed URL expires, unasked.
    image = requests.get(first.json()["thumbnailUrl"], timeout=10)
    cache_control = image.headers["Cache-Control"]
    assert cache_control.startswith("private, max-age=") and cache_control.endswith(
        ", immutable")
    assert int(cache_control.split("max-age=")[1].split(",")[0]) >= 3600 - 60
