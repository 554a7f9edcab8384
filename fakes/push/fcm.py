"""Firebase Cloud Messaging's HTTP v1 API on loopback, with the OAuth2 token endpoint that a
service account's `token_uri` names.

POST /token takes the JWT-bearer grant (RFC 7523): the assertion must be RS256 by the service
account's key, `iss` its email, `aud` Google's token endpoint, with the FCM scope and an expiry
at most an hour ahead; it answers an access token. POST /v1/projects/{project}/messages:send
wants that token as the bearer, the account's project, and a well-formed message (a token, a
notification's title and body, data of strings only); a dead token is a 404 UNREGISTERED, as FCM
answers once the app is gone from the device.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.push.deliveries import Deliveries

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# The audience Google's token endpoint wants in an assertion, wherever it is reached (the client
# libraries put this constant there, not the token_uri they post to).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MESSAGE_FIELDS = {"token", "notification", "data", "android", "apns", "webpush", "fcm_options"}


def fcm_error(status: int, code: str, message: str, fcm_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": fcm_code}]
    return {"error": error}


class FakeFcm:
    def __init__(self, *, public_key: rsa.RSAPublicKey, client_email: str, project_id: str,
                 port: int = 0) -> None:
        self.public_key, self.client_email, self.project_id = public_key, client_email, project_id
        self.deliveries = Deliveries("fcm")
        self.tokens_issued = 0
        self._access: dict[str, float] = {}  # access token -> expiry
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def __enter__(self) -> FakeFcm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _grant(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != GRANT:
            self.deliveries.refuse(f"token: grant_type {form.get('grant_type')!r}")
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(form.get("assertion", ""), self.public_key, algorithms=["RS256"],
                                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
                                options={"require": ["iss", "aud", "exp", "iat"]})
        except jwt.PyJWTError as bad:
            self.deliveries.refuse(f"token: assertion {bad}")
            return 400, {"error": "invalid_grant", "error_description": str(bad)}
        if claims["iss"] != self.client_email or SCOPE not in str(claims.get("scope", "")).split():
            self.deliveries.refuse("token: wrong issuer or scope")
            return 400, {"error": "invalid_scope"}
        if claims["exp"] - claims["iat"] > 3600:
            return 400, {"error": "invalid_grant", "error_description": "lives over an hour"}
        access = f"ya29.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._access[access] = time.time() + 3600
            self.tokens_issued += 1
        return 200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"}

    def _send(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            valid = self._access.get(bearer, 0) > time.time()
        if not valid:
            self.deliveries.refuse("send: no valid bearer token")
            return 401, fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication")
        if path != f"/v1/projects/{self.project_id}/messages:send":
            return 403, fcm_error(403, "PERMISSION_DENIED", "not this account's project",
                                  "SENDER_ID_MISMATCH")
        try:
            message = json.loads(body)["message"]
            problem = self._message_problem(message)
        except (ValueError, KeyError, TypeError):
            problem = "not a {message: {...}} body"
        if problem:
            self.deliveries.refuse(f"send: {problem}")
            return 400, fcm_error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        if self.deliveries.is_gone(message["token"]):
            return 404, fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                                  "UNREGISTERED")
        notification = {**message["data"]}
        if not self.deliveries.attempt(message["token"], notification):
            return 503, fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.",
                                  "UNAVAILABLE")
        return 200, {"name": f"projects/{self.project_id}/messages/0:{secrets.token_hex(8)}"}

    @staticmethod
    def _message_problem(message: Any) -> str | None:
        if not isinstance(message, dict) or set(message) - MESSAGE_FIELDS:
            return f"unknown message fields {sorted(set(message) - MESSAGE_FIELDS)}"
        if not isinstance(message.get("token"), str) or not message["token"]:
            return "message.token: required"
        shown = message.get("notification")
        if not isinstance(shown, dict) or not all(
                isinstance(shown.get(key), str) for key in ("title", "body")):
            return "message.notification: title and body required"
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(value, str)
                                                 for value in data.values()):
            return "message.data: values must be strings"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                if self.path == "/token":
                    status, answer = fake._grant(body)
                else:
                    status, answer = fake._send(self.path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
