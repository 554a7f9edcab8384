"""The real GetImg client against the fake GetImg server, both over real HTTP."""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from PIL import Image, ImageChops, ImageDraw, ImageStat

from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg, start_fake_getimg
from fakes.getimg.state import DEFAULTS
from workers.getimg_client import (
    CallAbandoned,
    GenerationResponse,
    GetImgClient,
    GetImgError,
    data_url,
)

MODEL = "seedream-5-lite"
KEY = "sk_test_0123456789abcdef"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGetImg]:
    server = start_fake_getimg()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeGetImg) -> None:
    fake.reset()


@pytest.fixture
def client(fake: FakeGetImg) -> Iterator[GetImgClient]:
    with GetImgClient(fake.url, KEY, connect_timeout=2, read_timeout=5) as getimg:
        yield getimg


@pytest.fixture(scope="module")
def selfie() -> bytes:
    image = Image.new("RGB", (360, 480), (205, 170, 140))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 80, 260, 280), fill=(230, 190, 160))  # a face, more or less
    draw.rectangle((60, 300, 300, 480), fill=(40, 60, 110))  # shoulders
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def generate(client: GetImgClient, selfie: bytes, **overrides: Any) -> GenerationResponse:
    args: dict[str, Any] = {"model": MODEL, "prompt": "corporate headshot, grey backdrop",
                            "aspect_ratio": "3:4"}
    args.update(overrides)
    return client.generate(image=selfie, mime_type="image/jpeg", **args)


def fetch_image(client: GetImgClient, response: GenerationResponse) -> Image.Image:
    body, content_type = client.download(response.images[0].url)
    assert content_type == response.images[0].mime_type
    return Image.open(io.BytesIO(body))


def expect_error(call: object, code: str, *, transient: bool,
                 status: int | None = None) -> GetImgError:
    assert callable(call)
    with pytest.raises(GetImgError) as caught:
        call()
    error = caught.value
    assert (error.code, error.transient) == (code, transient), str(error)
    if status is not None:
        assert error.status == status
    assert error.message and KEY not in str(error) and KEY not in error.message
    return error


# -- happy path --------------------------------------------------------------------------------

def test_generation_returns_a_real_image_of_the_requested_shape(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    response = generate(client, selfie)

    assert response.request_id.startswith("req-") and response.model == MODEL
    assert response.total_cost is not None and response.total_cost > 0
    [image] = response.images
    assert (image.width, image.height, image.mime_type) == (768, 1024, "image/jpeg")
    picture = fetch_image(client, response)
    assert (picture.format, picture.size) == ("JPEG", (768, 1024))
    [call] = fake.stats()["recent"]
    assert call["id"] == response.request_id
    assert (call["model"], call["aspect_ratio"], call["status"]) == (MODEL, "3:4", 200)
    assert call["prompt"].startswith("corporate headshot")


@pytest.mark.parametrize(("aspect_ratio", "resolution", "size"), [
    ("1:1", "1K", (1024, 1024)),
    ("4:5", "1K", (819, 1024)),
    ("2:3", "1K", (683, 1024)),
    ("9:16", "1K", (576, 1024)),
    ("16:9", "1K", (1024, 576)),
    ("4:3", "1K", (1024, 768)),
    ("3:4", "2K", (1536, 2048)),
])
def test_output_follows_aspect_ratio_and_resolution(
    client: GetImgClient, selfie: bytes, aspect_ratio: str, resolution: str,
    size: tuple[int, int],
) -> None:
    response = generate(client, selfie, aspect_ratio=aspect_ratio, resolution=resolution)

    assert (response.images[0].width, response.images[0].height) == size
    assert fetch_image(client, response).size == size


@pytest.mark.parametrize(("output_format", "pil_format"), [("png", "PNG"), ("webp", "WEBP")])
def test_output_format_is_honoured(
    client: GetImgClient, selfie: bytes, output_format: str, pil_format: str
) -> None:
    response = generate(client, selfie, output_format=output_format)

    assert response.images[0].mime_type == f"image/{output_format}"
    assert fetch_image(client, response).format == pil_format


def test_different_prompts_give_visibly_different_images(
    client: GetImgClient, selfie: bytes
) -> None:
    corporate = fetch_image(client, generate(client, selfie, prompt="corporate, navy suit"))
    creative = fetch_image(client, generate(client, selfie, prompt="creative, neon studio"))
    again = fetch_image(client, generate(client, selfie, prompt="corporate, navy suit"))

    difference = ImageStat.Stat(ImageChops.difference(corporate.convert("RGB"),
                                                      creative.convert("RGB"))).mean
    assert sum(difference) / 3 > 10
    same = ImageStat.Stat(ImageChops.difference(corporate.convert("RGB"),
                                                again.convert("RGB"))).mean
    assert sum(same) / 3 < 1


def test_rate_limit_headers_are_on_every_generation_response(fake: FakeGetImg) -> None:
    fake.configure(rate_limit_rpm=50)
    answer = requests.post(f"{fake.url}/v2/images/generations", json={"model": MODEL},
                           headers={"Authorization": f"Bearer {KEY}"}, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "parameter_missing"
    assert answer.headers["X-RateLimit-Limit"] == "50"
    assert answer.headers["X-RateLimit-Remaining"] == "49"
    assert int(answer.headers["X-RateLimit-Reset"]) > time.time()


def test_the_fake_keeps_connections_alive_as_getimg_does(fake: FakeGetImg, selfie: bytes) -> None:
    """One connection for a job's calls (the generation, its download), even after an answer
    whose request body the fake never read (a refused key): as the real GetImg, so the worker's
    client reuses its connections and the benchmarks pay no TCP connection per call."""
    parts = urlsplit(fake.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    body = json.dumps({"model": MODEL, "prompt": "headshot", "aspect_ratio": "1:1",
                       "images": [{"url": data_url(selfie, "image/jpeg")}]}).encode()

    def call(method: str, path: str, **headers: str) -> tuple[int, bytes, object]:
        connection.request(method, path, body=body if method == "POST" else None,
                           headers={"Content-Type": "application/json", **headers})
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, data, connection.sock  # http.client drops a closed one

    refused = call("POST", "/v2/images/generations")
    generated = call("POST", "/v2/images/generations", Authorization=f"Bearer {KEY}")
    url = urlsplit(json.loads(generated[1])["data"][0]["url"])
    downloaded = call("GET", f"{url.path}?{url.query}")
    connection.close()

    assert (refused[0], generated[0], downloaded[0]) == (401, 200, 200)
    assert Image.open(io.BytesIO(downloaded[1])).format == "JPEG"
    assert refused[2] is not None and refused[2] is generated[2] is downloaded[2]


# -- scripted faults ---------------------------------------------------------------------------

@pytest.mark.parametrize(("outcome", "code", "transient", "status"), [
    ("500", "getimg_unavailable", True, 500),
    ("502", "getimg_unavailable", True, 502),
    ("503", "getimg_unavailable", True, 503),
    ("quota", "getimg_quota_exceeded", False, 402),
    ("policy", "content_policy_violation", False, 422),
    ("401", "getimg_auth_failed", False, 401),
    ("garbage", "malformed_response", True, 200),
    ("badjson", "malformed_response", True, 200),
])
def test_scripted_fault_maps_to_error(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg, outcome: str, code: str,
    transient: bool, status: int,
) -> None:
    fake.configure(script=[outcome, "ok"])

    expect_error(lambda: generate(client, selfie), code, transient=transient, status=status)
    assert generate(client, selfie).images  # the script moved on
    assert fake.stats()["by_outcome"] == {outcome: 1, "ok": 1}


def test_scripted_429_carries_retry_after(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    fake.configure(script=["429"], retry_after=7)

    error = expect_error(lambda: generate(client, selfie), "getimg_rate_limited",
                         transient=True, status=429)
    assert error.retry_after == 7


def test_hanging_generation_hits_the_read_timeout(fake: FakeGetImg, selfie: bytes) -> None:
    fake.configure(script=["timeout"], timeout_seconds=1)
    with GetImgClient(fake.url, KEY, read_timeout=0.3) as impatient:
        expect_error(lambda: generate(impatient, selfie), "getimg_timeout", transient=True)


def test_latency_knob_is_respected(fake: FakeGetImg, selfie: bytes) -> None:
    fake.configure(latency_ms=600)
    with GetImgClient(fake.url, KEY, read_timeout=0.2) as impatient:
        expect_error(lambda: generate(impatient, selfie), "getimg_timeout", transient=True)
    with GetImgClient(fake.url, KEY, read_timeout=5) as patient:
        started = time.monotonic()
        generate(patient, selfie)
        assert time.monotonic() - started >= 0.6


def test_an_abandoned_generation_closes_its_connection_and_getimg_sees_it(
        client: GetImgClient, fake: FakeGetImg, selfie: bytes) -> None:
    fake.configure(latency_ms=20_000)
    abandon = threading.Event()
    outcome: list[BaseException | GenerationResponse] = []

    def call() -> None:
        try:
            outcome.append(generate(client, selfie, abandon=abandon))
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: fake.stats()["in_flight"] == 1, timeout=10,
               message="the generation to reach the fake")
    abandon.set()
    caller.join(timeout=10)  # a deadline: the call would otherwise wait 20 s
    assert not caller.is_alive(), "the abandoned call still waits for GetImg"
    assert len(outcome) == 1 and isinstance(outcome[0], CallAbandoned), outcome
    # The fake saw the connection end during the generation, and stopped it: nothing charged.
    wait_until(lambda: fake.stats()["by_outcome"].get("abandoned") == 1, timeout=10,
               message="the fake to see the client leave")
    stats = fake.stats()
    assert stats["in_flight"] == 0 and stats["by_status"] == {"499": 1}, stats
    assert stats["balance"] == DEFAULTS["balance"]

    fake.configure(latency_ms=0)  # the client goes on, on a new connection
    assert generate(client, selfie).images


def test_a_generation_that_is_not_abandoned_keeps_its_read_timeout(
        fake: FakeGetImg, selfie: bytes) -> None:
    fake.configure(latency_ms=2_000)
    with GetImgClient(fake.url, KEY, read_timeout=0.5) as impatient:
        expect_error(lambda: generate(impatient, selfie, abandon=threading.Event()),
                     "getimg_timeout", transient=True)
    with GetImgClient(fake.url, KEY, read_timeout=5) as patient:
        assert generate(patient, selfie, abandon=threading.Event()).images


def test_fail_rate_and_mix_knobs(client: GetImgClient, selfie: bytes, fake: FakeGetImg) -> None:
    fake.configure(fail_rate=1.0, fail_status=503)
    expect_error(lambda: generate(client, selfie), "getimg_unavailable", transient=True)
    fake.configure(fail_rate=0.0, mix={"policy": 1, "ok": 0}, seed=3)
    expect_error(lambda: generate(client, selfie), "content_policy_violation", transient=False)


def test_unknown_knob_is_refused(fake: FakeGetImg) -> None:
    with pytest.raises(requests.HTTPError):
        fake.configure(script=["explode"])
    with pytest.raises(requests.HTTPError):
        fake.configure(no_such_knob=1)


def test_startup_knobs_from_env_survive_reset(selfie: bytes) -> None:
    with start_fake_getimg(GETIMG_FAKE_SCRIPT="quota,ok", GETIMG_FAKE_RATE_LIMIT_RPM="5",
                           GETIMG_FAKE_MIX='{"ok": 1}') as own, \
            GetImgClient(own.url, KEY) as own_client:
        expect_error(lambda: generate(own_client, selfie), "getimg_quota_exceeded",
                     transient=False)
        own.configure(rate_limit_rpm=1000, script=[])
        assert own.reset()["script"] == ["quota", "ok"]
        assert own.stats()["generation_calls"] == 0
        config = own.configure()
        assert (config["rate_limit_rpm"], config["mix"]) == (5, {"ok": 1.0})


# -- auth, validation, limits ------------------------------------------------------------------

@pytest.mark.parametrize("api_key", ["not-a-getimg-key", None])
def test_bad_key_is_a_permanent_auth_failure(
    fake: FakeGetImg, selfie: bytes, api_key: str | None
) -> None:
    with GetImgClient(fake.url, api_key) as unauthorised:
        error = expect_error(lambda: generate(unauthorised, selfie), "getimg_auth_failed",
                             transient=False, status=401)
    assert "not-a-getimg-key" not in str(error)


def test_invalid_parameters_are_permanent(client: GetImgClient, selfie: bytes) -> None:
    error = expect_error(lambda: generate(client, selfie, aspect_ratio="7:3"),
                         "getimg_invalid_request", transient=False, status=400)
    assert "aspect_ratio" in error.detail
    expect_error(lambda: generate(client, selfie, model="stable-diffusion-xl"),
                 "getimg_invalid_request", transient=False, status=400)


def test_inputs_the_api_would_refuse_are_not_sent(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    too_big = b"\xff\xd8\xff" + bytes(10 * 1024 * 1024)
    expect_error(lambda: client.generate(model=MODEL, prompt="p", image=too_big,
                                         mime_type="image/jpeg", aspect_ratio="1:1"),
                 "getimg_invalid_request", transient=False)
    expect_error(lambda: client.generate(model=MODEL, prompt="p", image=selfie,
                                         mime_type="image/gif", aspect_ratio="1:1"),
                 "getimg_invalid_request", transient=False)
    assert fake.stats()["generation_calls"] == 0


@pytest.mark.parametrize(("image_url", "code"), [
    ("aGVsbG8=", "invalid_parameter"),  # bare base64
    ("data:image/jpeg;base64,aGVsbG8=", "invalid_parameter"),  # base64 of a non-image
    ("data:image/gif;base64,R0lGODlh", "invalid_parameter"),
    ("", "parameter_missing"),
])
def test_fake_validates_input_images_like_getimg(fake: FakeGetImg, image_url: str,
                                                 code: str) -> None:
    answer = requests.post(
        f"{fake.url}/v2/images/generations",
        json={"model": MODEL, "prompt": "p", "images": [{"url": image_url}]},
        headers={"Authorization": f"Bearer {KEY}"}, timeout=5)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        code, "images[0].url", "invalid_request_error")
    assert error["doc_url"].startswith("https://docs.getimg.ai/")


def test_requests_per_minute_limit(client: GetImgClient, selfie: bytes, fake: FakeGetImg) -> None:
    fake.configure(rate_limit_rpm=2)
    generate(client, selfie)
    generate(client, selfie)

    error = expect_error(lambda: generate(client, selfie), "getimg_rate_limited",
                         transient=True, status=429)
    assert error.retry_after is not None and 0 < error.retry_after <= 60


def test_the_window_s_last_request_says_how_long_to_pause(client: GetImgClient, selfie: bytes,
                                                          fake: FakeGetImg) -> None:
    """X-RateLimit-Remaining 0 on a success: the worker pauses everyone until the reset
    instead of spending the next call on a 429."""
    fake.configure(rate_limit_rpm=2)
    assert generate(client, selfie).pause_seconds is None  # one request left
    last = generate(client, selfie)
    assert last.pause_seconds is not None and 0 < last.pause_seconds <= 61
    fake_stats = fake.stats()
    assert fake_stats["peak_in_flight"] == 1 and fake_stats["over_concurrency"] == 0


def test_concurrency_limit(fake: FakeGetImg, selfie: bytes) -> None:
    fake.configure(max_concurrency=1, latency_ms=1000)
    first: list[str] = []

    def slow_call() -> None:
        with GetImgClient(fake.url, KEY, read_timeout=5) as own:
            first.append(generate(own, selfie).request_id)

    thread = threading.Thread(target=slow_call)
    thread.start()
    deadline = time.monotonic() + 5
    while fake.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    with GetImgClient(fake.url, KEY) as second:
        error = expect_error(lambda: generate(second, selfie), "getimg_rate_limited",
                             transient=True, status=429)
    thread.join(timeout=10)
    assert error.retry_after == 1
    assert len(first) == 1
    assert fake.stats()["over_concurrency"] == 1  # what the chaos suite's limit keeps at 0


def test_balance_runs_out_into_quota_exceeded(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    fake.configure(balance="0.05")
    generate(client, selfie)  # costs 0.03
    expect_error(lambda: generate(client, selfie), "getimg_quota_exceeded", transient=False,
                 status=402)
    balance = requests.get(f"{fake.url}/v2/billing/balance",
                           headers={"Authorization": f"Bearer {KEY}"}, timeout=5).json()
    assert balance == {"balance": "0.02", "currency": "USD"}


def test_models_endpoint_lists_the_catalogue(fake: FakeGetImg) -> None:
    models = requests.get(f"{fake.url}/v2/models", headers={"Authorization": f"Bearer {KEY}"},
                          timeout=5).json()
    assert [m["id"] for m in models] == [MODEL]
    assert "3:4" in models[0]["supported_aspect_ratios"]
    assert models[0]["pricing"]["rates"][0]["unit_price"] == "0.03"


# -- downloads ---------------------------------------------------------------------------------

def test_expired_download_url_is_permanent(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    fake.configure(url_ttl_seconds=-1)
    response = generate(client, selfie)

    expect_error(lambda: client.download(response.images[0].url), "getimg_result_expired",
                 transient=False, status=410)


def test_tampered_download_url_is_refused(client: GetImgClient, selfie: bytes) -> None:
    url = generate(client, selfie).images[0].url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["exp"] = str(int(query["exp"]) + 3600)  # try to extend the lifetime
    tampered = urlunsplit(parts._replace(query=urlencode(query)))

    expect_error(lambda: client.download(tampered), "getimg_result_expired", transient=False,
                 status=403)


def test_download_that_is_not_an_image_is_malformed(
    client: GetImgClient, selfie: bytes, fake: FakeGetImg
) -> None:
    fake.configure(script=["badimage"])
    response = generate(client, selfie)

    expect_error(lambda: client.download(response.images[0].url), "malformed_response",
                 transient=True)


def test_download_refuses_bodies_over_the_limit(client: GetImgClient, selfie: bytes) -> None:
    url = generate(client, selfie).images[0].url
    expect_error(lambda: client.download(url, max_bytes=1000), "getimg_result_too_large",
                 transient=False)


def test_unreachable_server_is_transient(selfie: bytes) -> None:
    with GetImgClient("http://127.0.0.1:9", KEY, connect_timeout=0.5) as nowhere:
        expect_error(lambda: generate(nowhere, selfie), "getimg_unavailable", transient=True)
