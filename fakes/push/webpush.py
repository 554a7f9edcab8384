"""A Web Push service (RFC 8030) on loopback, as a browser vendor runs one.

A test subscribes as a browser would (`subscribe`: it makes the P-256 key pair and the auth
secret, and keeps their private halves); the endpoint then takes POSTs that must carry a VAPID
`Authorization: vapid t=<JWT>, k=<key>` (RFC 8292: ES256 by that key, `aud` the endpoint's
origin, `exp` within 24 hours, a `sub` contact) by the application server key the subscription
was made for, a TTL and an aes128gcm body (RFC 8291), which it decrypts. 201 when accepted,
410 for a subscription that is gone, 404 for one it never issued.

    with FakeWebPush(application_server_key) as service:
        subscription = service.subscribe()  # {"endpoint", "keys": {"p256dh", "auth"}}
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from fakes.push.credentials import b64url, b64url_decode, public_point
from fakes.push.deliveries import Deliveries

MAX_EXPIRY = 24 * 3600
MAX_BODY = 4096  # RFC 8030 §7.2: a push service must accept at least this much


class FakeWebPush:
    def __init__(self, application_server_key: str, *, port: int = 0) -> None:
        self.application_server_key = application_server_key
        self.deliveries = Deliveries("webpush")
        self._subscriptions: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def subscribe(self) -> dict[str, Any]:
        """A new subscription, as `PushSubscription.toJSON()` gives it to the page."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        subscription_id = secrets.token_urlsafe(24)
        with self._lock:
            self._subscriptions[subscription_id] = (key, auth)
        return {"endpoint": f"{self.origin}/push/{subscription_id}",
                "keys": {"p256dh": b64url(public_point(key.public_key())), "auth": b64url(auth)}}

    def __enter__(self) -> FakeWebPush:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        subscription_id = path.removeprefix("/push/")
        with self._lock:
            held = self._subscriptions.get(subscription_id)
        endpoint = f"{self.origin}{path}"
        if not path.startswith("/push/") or held is None:
            return 404
        if self.deliveries.is_gone(endpoint):
            return 410
        problem = self._vapid_problem(headers.get("authorization", ""))
        if problem is None and not headers.get("ttl", "").isdigit():
            problem = "TTL header missing"
        if problem is None and headers.get("content-encoding") != "aes128gcm":
            problem = f"Content-Encoding {headers.get('content-encoding')!r}, not aes128gcm"
        if problem is not None:
            self.deliveries.refuse(problem)
            return 401 if "vapid" in problem.lower() else 400
        if len(body) > MAX_BODY:
            return 413
        key, auth = held
        try:
            plain = http_ece.decrypt(body, private_key=key, auth_secret=auth,
                                     version="aes128gcm")
            notification = json.loads(plain)
        except Exception as undecryptable:  # any failure is the sender's: a 400
            self.deliveries.refuse(f"cannot decrypt: {undecryptable!r}")
            return 400
        return 201 if self.deliveries.attempt(endpoint, notification) else 503

    def _vapid_problem(self, authorization: str) -> str | None:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return f"VAPID: Authorization scheme {scheme!r}, not vapid"
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key = fields.get("t", ""), fields.get("k", "")
        if key != self.application_server_key:
            return "VAPID: k is not the key this subscription was made for"
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                                  b64url_decode(key))
            claims = jwt.decode(token, public, algorithms=["ES256"], audience=self.origin,
                                options={"require": ["exp", "aud", "sub"]})
        except (jwt.PyJWTError, ValueError) as bad:
            return f"VAPID: {bad}"
        if claims["exp"] > time.time() + MAX_EXPIRY:
            return "VAPID: exp more than 24 hours ahead"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return "VAPID: sub is not a mailto: or https: contact"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = service._receive(self.path, headers, body)
                self.send_response(status)
                if status == 201:
                    self.send_header("location", f"{service.origin}/message/{os.urandom(8).hex()}")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler
