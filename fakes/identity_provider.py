"""A stand-in identity provider (an Auth0, a Cognito): a real HTTP server on loopback that
publishes its signing keys as a JWKS at /.well-known/jwks.json and signs tokens with them.

Its keys are RSA (RS256) and EC P-256 (ES256) keys it makes with `cryptography`. A test rotates
them as a provider does (publish a new key, sign with it, drop the old one later), and can make
the endpoint fail: answer 503, answer what is not JSON, or hang past the client's timeout.

    with IdentityProvider() as provider:
        kid = provider.new_key("RS256")
        token = provider.token(kid, sub="42", aud="headshots-api")
        ... provider.jwks_url, provider.issuer, provider.fetches ...
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"
Mode = Literal["up", "error", "garbage", "hang"]
HANG_LIMIT_SECONDS = 30  # a hung request is let go after this, or when the server stops


@dataclass
class _Key:
    algorithm: str
    private_key: Any
    published: bool


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class IdentityProvider:
    """Listens on 127.0.0.1:`port` (0: a free one) from construction, answers from `__enter__`."""

    def __init__(self, *, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._mode: Mode = "up"
        self._fetches = 0
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def jwks_url(self) -> str:
        return self.issuer.rstrip("/") + JWKS_PATH

    @property
    def fetches(self) -> int:
        """Requests for the JWKS so far, whatever they were answered."""
        with self._lock:
            return self._fetches

    def new_key(self, algorithm: Literal["RS256", "ES256"] = "RS256", *,
                publish: bool = True) -> str:
        """Make a key; its kid. Published at once unless told otherwise."""
        private_key: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                            if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1()))
        kid = f"{algorithm.lower()}-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._keys[kid] = _Key(algorithm, private_key, publish)
        return kid

    def publish(self, kid: str) -> None:
        with self._lock:
            self._keys[kid].published = True

    def unpublish(self, kid: str) -> None:
        """Drop the key from the JWKS (it can still sign: a leaked key, say)."""
        with self._lock:
            self._keys[kid].published = False

    def set_mode(self, mode: Mode) -> None:
        """How the JWKS endpoint answers from now on; leaving `hang` lets hung requests go."""
        with self._lock:
            self._mode = mode
        if mode == "hang":
            self._released.clear()
        else:
            self._released.set()

    def token(self, kid: str, *, expires_in: int = 600, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:
        """A token signed with the key `kid`, issued by this provider unless `iss` says else;
        a claim or header given as None is left out."""
        key = self._keys[kid]
        payload = {"iss": self.issuer, "exp": int(time.time()) + expires_in,
                   "iat": int(time.time()), **claims}
        payload = {name: value for name, value in payload.items() if value is not None}
        header = {name: value for name, value in {"kid": kid, **(headers or {})}.items()
                  if value is not None}
        return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers=header)

    def sign(self, kid: str, header: Any, claims: Any) -> str:
        """A token of exactly this header and these claims (any JSON: what PyJWT refuses to
        encode, such as a list for `iss` or an `alg` it does not know), signed with the key
        `kid` by its own algorithm."""
        key = self._keys[kid]
        signing_input = f"{_b64url(json.dumps(header).encode())}." \
                        f"{_b64url(json.dumps(claims).encode())}"
        signature = jwt.get_algorithm_by_name(key.algorithm).sign(signing_input.encode(),
                                                                  key.private_key)
        return f"{signing_input}.{_b64url(signature)}"

    def public_pem(self, kid: str) -> bytes:
        return bytes(self._keys[kid].private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            published = [(kid, key) for kid, key in self._keys.items() if key.published]
        keys = []
        for kid, key in published:
            encoder = RSAAlgorithm if key.algorithm == "RS256" else ECAlgorithm
            jwk = encoder.to_jwk(key.private_key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": key.algorithm})
        return {"keys": keys}

    def __enter__(self) -> IdentityProvider:
        self._released.set()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self) -> tuple[int, bytes]:
        with self._lock:
            self._fetches += 1
            mode = self._mode
        if mode == "hang":
            self._released.wait(HANG_LIMIT_SECONDS)
            return 503, b"{}"
        if mode == "error":
            return 503, b'{"error": "temporarily_unavailable"}'
        if mode == "garbage":
            return 200, b"<html>maintenance</html>"
        return 200, json.dumps(self.jwks()).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                status, body = provider._answer()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting (its timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
