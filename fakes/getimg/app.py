"""The fake's HTTP routes: the v2 API, signed downloads and the /_fake control API."""

from __future__ import annotations

import hmac
import json
import secrets
import select
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from fakes.getimg.imaging import render
from fakes.getimg.state import FakeState
from fakes.getimg.wire import (
    ASPECT_RATIOS,
    LONG_SIDE,
    MAX_BODY_BYTES,
    MAX_REFERENCES,
    PRICES,
    ApiError,
    iso_time,
    parse_request,
)

CLIENT_SOCKET = "getimg_fake.client_socket"  # environ: the request's connection (server.py)
CLIENT_CHECK_SECONDS = 0.05  # how often a generation's latency looks for a client that left
ABANDONED = "abandoned"  # the outcome of a generation whose client hung up before the answer


class ClientGone(Exception):
    """The client closed the connection while its generation was under way."""


def client_gone(connection: socket.socket | None) -> bool:
    """Whether the client closed `connection`. Its request was read whole, so anything to
    read now is the end of the connection (HTTP clients do not pipeline)."""
    if connection is None:
        return False
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset, or closed already
        return True


def create_app(startup: Mapping[str, Any] | None = None, secret: bytes | None = None, *,
               sleep: Callable[[float], None] = time.sleep) -> Flask:
    """The fake's app. `sleep` waits out the latency and the timeouts: the server's own (a
    greenlet's under gevent, `__main__`), so a sleeping request holds no other one up."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    state = FakeState(startup or {}, secret or secrets.token_bytes(32))
    app.extensions["getimg_fake"] = state

    def bearer_key() -> str | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" and key.strip().startswith("sk_") else None

    def require_key() -> str:
        key = bearer_key()
        if key is None:
            raise ApiError(401, "invalid_api_key", "Missing, malformed, revoked, or invalid "
                           "API key.")
        return key

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
            exc.code or 500, "invalid_request")
        return ApiError(exc.code or 500, code, exc.description or "Error.").response()

    @app.after_request
    def add_rate_headers(response: Response) -> Response:
        if request.path.startswith("/v2/"):
            response.headers.update(state.rate_headers(bearer_key() or "anonymous"))
        return response

    @app.post("/v2/images/generations")
    def generate() -> Response:
        info: dict[str, Any] = {"id": None}
        outcome = "rejected"
        epoch = state.epoch
        try:
            key = require_key()
            epoch = state.admit(key)
            try:
                body = read_json_body()
                if isinstance(body, dict):
                    info.update({k: body.get(k) for k in ("model", "aspect_ratio", "resolution")})
                    info["prompt"] = str(body.get("prompt", ""))[:200]
                params = parse_request(body, state.config["models"])
                outcome = state.next_outcome()
                try:
                    response = perform(outcome, params, info)
                except ClientGone:
                    # Nobody reads it: nginx's "client closed request", for the stats.
                    outcome = ABANDONED
                    response = Response(status=499)
            finally:
                state.release(key, epoch)
        except ApiError as exc:
            response = exc.response()
        state.record(response.status_code, outcome, info, epoch)
        return response

    def read_json_body() -> object:
        try:
            return json.loads(request.get_data() or b"null")
        except HTTPException as exc:  # 413 from MAX_CONTENT_LENGTH
            raise ApiError(exc.code or 413, "request_too_large",
                           "Request body exceeds 25 MiB.") from None
        except ValueError:
            raise ApiError(400, "invalid_parameter", "Request body is not valid JSON.") from None

    def wait_out(seconds: float) -> None:
        """The generation's latency; raises ClientGone if the client hangs up meanwhile (and
        the generation stops there: nothing is charged)."""
        connection = request.environ.get(CLIENT_SOCKET)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if client_gone(connection):
                raise ClientGone
            sleep(min(CLIENT_CHECK_SECONDS, left) if connection is not None else left)

    def perform(outcome: str, params: dict[str, Any], info: dict[str, Any]) -> Response:
        config = state.snapshot()
        if outcome == "timeout":
            sleep(config["timeout_seconds"])
            raise ApiError(504, "timeout", "The generation timed out.", error_type="api_error")
        wait_out(config["latency_ms"] / 1000)
        if outcome == "429":
            raise ApiError(429, "rate_limit", "Rate limit exceeded. Please retry later.",
                           headers={"Retry-After": str(config["retry_after"])})
        if outcome == "401":
            raise ApiError(401, "invalid_api_key", "Missing, malformed, revoked, or invalid "
                           "API key.")
        if outcome == "quota":
            raise ApiError(402, "quota_exceeded", "Insufficient account balance or quota.")
        if outcome == "policy":
            raise ApiError(422, "content_policy_violation", "The request was rejected by the "
                           "content policy.")
        if outcome == "garbage":
            return Response("<html><body>upstream hiccup</body></html>", 200, mimetype="text/html")
        if outcome == "502":
            return Response("<html><h1>502 Bad Gateway</h1></html>", 502, mimetype="text/html")
        if outcome[0] in "45":
            server = outcome[0] == "5"
            raise ApiError(int(outcome), "server_error" if server else "invalid_parameter",
                           "Internal server error." if server else "Request rejected.",
                           error_type="api_error" if server else "invalid_request_error")
        price = PRICES[params["resolution"]]
        state.charge(price)
        req_id = "req-" + secrets.token_hex(12)
        info["id"] = req_id
        body, width, height, mime_type = render(params)
        if outcome == "badimage":
            body = b"this is not an image\n" * 64
        state.store(req_id, [(body, mime_type)])
        exp = str(int(time.time() + config["url_ttl_seconds"]))
        url = (f"{request.host_url.rstrip('/')}/v2/downloads/{req_id}/0"
               f"?exp={exp}&sig={state.sign(req_id, 0, exp)}")
        item = {"url": url, "width": width, "height": height, "mime_type": mime_type,
                "deletes_at": iso_time(int(exp))}
        usage = {"total_cost": float(price), "billable_unit": "image",
                 "unit_price": float(price), "quantity": 1}
        reply: dict[str, Any] = {"id": req_id, "status": "completed", "model": params["model"],
                                 "data": [item], "usage": usage}
        if outcome == "badjson":
            del reply["data"]
        return jsonify(reply)

    @app.get("/v2/downloads/<req_id>/<int:index>")
    def download(req_id: str, index: int) -> Response:
        exp, sig = request.args.get("exp", ""), request.args.get("sig", "")
        if not exp.isdigit() or not hmac.compare_digest(sig, state.sign(req_id, index, exp)):
            raise ApiError(403, "invalid_signature", "The download signature is invalid.")
        if time.time() >= int(exp):
            raise ApiError(410, "expired", "This download link has expired.")
        found = state.fetch(req_id, index)
        if found is None:
            raise ApiError(404, "not_found", "No such generated file.")
        return Response(found[0], 200, mimetype=found[1])

    def model_entry(model_id: str) -> dict[str, Any]:
        rates = [{"billable_unit": "image", "resolution": res, "sound": "not_applicable",
                  "unit_price": str(price)} for res, price in PRICES.items()]
        return {"id": model_id, "name": model_id, "type": "image",
                "created_at": "2025-01-01T00:00:00Z", "pricing": {"currency": "USD",
                                                                  "rates": rates},
                "supported_aspect_ratios": list(ASPECT_RATIOS),
                "supported_resolutions": list(LONG_SIDE), "supported_durations": [],
                "supported_references": {"reference_image": MAX_REFERENCES},
                "supports_sound": False}

    @app.get("/v2/models")
    def list_models() -> Response:
        require_key()
        wanted = request.args.get("type", "image")
        return jsonify([model_entry(m) for m in state.config["models"] if wanted == "image"])

    @app.get("/v2/models/<model_id>")
    def get_model(model_id: str) -> Response:
        require_key()
        if model_id not in state.config["models"]:
            raise ApiError(404, "not_found", f"Unknown model '{model_id}'.", "model")
        return jsonify(model_entry(model_id))

    @app.get("/v2/billing/balance")
    def balance() -> Response:
        require_key()
        return jsonify({"balance": state.snapshot()["balance"], "currency": "USD"})

    @app.route("/_fake/config", methods=["GET", "POST"])
    def fake_config() -> Response:
        if request.method == "GET":
            return jsonify(state.snapshot())
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            raise ApiError(400, "invalid_parameter", "Send a JSON object of knobs.")
        try:
            return jsonify(state.configure(changes))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None

    @app.post("/_fake/reset")
    def fake_reset() -> Response:
        state.reset()
        return jsonify(state.snapshot())

    @app.get("/_fake/stats")
    def fake_stats() -> Response:
        return jsonify(state.stats())

    return app
