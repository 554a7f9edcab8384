"""The Apple Push Notification service on loopback: HTTP/2 over TLS (a self-signed certificate
the client is told to trust), token-based auth.

POST /3/device/{token} must come over HTTP/2 with `authorization: bearer <JWT>`: ES256 by the
team's key, `kid` that key's id, `iss` the team id, `iat` within the last hour (an older one is
403 ExpiredProviderToken, a bad one 403 InvalidProviderToken); `apns-topic` the app's bundle id
and `apns-push-type: alert`; a JSON body of at most 4 KB with `aps.alert`. A dead device token
is 410 Unregistered, as APNs answers once the app is gone from the device.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from hypercorn.asyncio import serve
from hypercorn.config import Config

from fakes.push.deliveries import Deliveries

MAX_PAYLOAD = 4096
TOKEN_LIFETIME = 3600
DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")

Scope = dict[str, Any]


class FakeApns:
    def __init__(self, *, public_key: ec.EllipticCurvePublicKey, key_id: str, team_id: str,
                 topic: str, cert_file: Path, key_file: Path, port: int) -> None:
        self.public_key, self.key_id, self.team_id, self.topic = public_key, key_id, team_id, topic
        self.port = port
        self.deliveries = Deliveries("apns")
        self.http_versions: set[str] = set()
        self.provider_tokens: set[str] = set()  # the distinct JWTs accepted
        self._config = Config()
        self._config.bind = [f"127.0.0.1:{port}"]
        self._config.certfile, self._config.keyfile = str(cert_file), str(key_file)
        self._config.accesslog = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(_quiet_about_unclosed_tls)
        self._loop.run_until_complete(serve(self._app, self._config,  # type: ignore[arg-type]
                                            shutdown_trigger=self._stop.wait))

    def __enter__(self) -> FakeApns:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the fake APNs server did not start")

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _judge(self, scope: Scope, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any]]:
        self.http_versions.add(scope.get("http_version", ""))
        path = scope["path"]
        if scope["method"] != "POST" or not path.startswith("/3/device/"):
            return 404, {"reason": "BadPath"}
        if scope.get("http_version") != "2":
            self.deliveries.refuse("not HTTP/2")
            return 400, {"reason": "BadRequest"}
        problem = self._token_problem(headers.get("authorization", ""))
        if problem:
            self.deliveries.refuse(problem)
            return 403, {"reason": problem.split(":")[0]}
        if headers.get("apns-topic") != self.topic:
            self.deliveries.refuse(f"apns-topic {headers.get('apns-topic')!r}")
            return 400, {"reason": "TopicDisallowed" if headers.get("apns-topic")
                         else "MissingTopic"}
        if headers.get("apns-push-type") != "alert":
            return 400, {"reason": "InvalidPushType"}
        device = path.removeprefix("/3/device/")
        if not DEVICE_TOKEN.fullmatch(device):
            return 400, {"reason": "BadDeviceToken"}
        if len(body) > MAX_PAYLOAD:
            return 413, {"reason": "PayloadTooLarge"}
        try:
            payload = json.loads(body)
            alert = payload["aps"]["alert"]
            assert isinstance(alert["title"], str) and isinstance(alert["body"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self.deliveries.refuse("payload without aps.alert title and body")
            return 400, {"reason": "PayloadEmpty"}
        if self.deliveries.is_gone(device):
            return 410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}
        notification = {**{k: v for k, v in payload.items() if k != "aps"},
                        "title": alert["title"], "body": alert["body"]}
        if not self.deliveries.attempt(device, notification):
            return 503, {"reason": "ServiceUnavailable"}
        return 200, {}

    def _token_problem(self, authorization: str) -> str | None:
        if not authorization.startswith("bearer "):
            return "MissingProviderToken"
        token = authorization.removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
                return "InvalidProviderToken: alg or kid"
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"],
                                options={"require": ["iss", "iat"], "verify_iat": True})
        except jwt.PyJWTError as bad:
            return f"InvalidProviderToken: {bad}"
        if claims["iss"] != self.team_id:
            return "InvalidProviderToken: iss is not the team"
        if time.time() - claims["iat"] > TOKEN_LIFETIME:
            return "ExpiredProviderToken"
        self.provider_tokens.add(token)
        return None

    async def _app(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        status, answer = self._judge(scope, headers, body)
        reply = json.dumps(answer).encode() if answer else b""
        response_headers = [(b"apns-id", headers.get("apns-id", "").encode())]
        if reply:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": reply})


def _quiet_about_unclosed_tls(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A client that drops its connection without TLS's close_notify (httpx, at exit) leaves
    # hypercorn waiting for it, then logging a TimeoutError: nothing a test needs to see.
    if isinstance(context.get("exception"), TimeoutError):
        return
    loop.default_exception_handler(context)
