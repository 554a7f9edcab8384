"""Walk a new user through the headshot API against a running service (see `./run demo`).

Mints its own tokens (HS256 with JWT_SECRET), grants credits as an operator, uploads a selfie,
generates one headshot, follows its progress and shows the result and the credit ledger.
"""

from __future__ import annotations

import argparse
import io
import mimetypes
import os
import secrets
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests
from jwt.warnings import InsecureKeyLengthWarning
from PIL import Image

from config import DEV_JWT_SECRET

REPO_ROOT = Path(__file__).resolve().parents[1]
TERMINAL_STATUSES = {"completed", "failed"}
BAR_WIDTH = 30


class DemoError(Exception):
    """A step failed; the message says which and why."""


@dataclass
class Api:
    """A requests session bound to the service's base URL and one bearer token."""

    base_url: str
    token: str
    session: requests.Session

    def call(self, method: str, path: str, expected: int, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, url, headers=headers, timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise DemoError(f"{method} {path}: cannot reach the service: {exc}") from exc
        if response.status_code != expected:
            raise DemoError(
                f"{method} {path}: expected {expected}, got {response.status_code}\n"
                f"{describe_error(response)}"
            )
        return response

    def json(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        return self.call(method, path, expected, **kwargs).json()


def describe_error(response: requests.Response) -> str:
    """The §3 error body as `code: message`, or the raw body when it is not one."""
    try:
        error = response.json()["error"]
        return f"  error {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"  body: {response.text[:500]!r}"


def mint_token(secret: str, user_id: str, email: str, admin: bool = False) -> str:
    claims: dict[str, Any] = {
        "sub": user_id,
        "email": email,
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    if admin:
        claims["role"] = "admin"
    return jwt.encode(claims, secret, algorithm="HS256")


def random_user_id() -> str:
    # Nine or ten digits: fresh on every run, and well inside a 32-bit integer column.
    return str(100_000_000 + secrets.randbelow(1_000_000_000))


def step(title: str) -> None:
    print(f"\n== {title}")


def check_ready(base_url: str) -> None:
    try:
        response = requests.get(f"{base_url}/readyz", timeout=5)
    except requests.RequestException as exc:
        raise DemoError(f"the service at {base_url} does not answer: {exc}") from exc
    if response.status_code != 200:
        raise DemoError(f"{base_url}/readyz is {response.status_code}: {response.text[:300]!r}")


def grant_credits(admin: Api, user_id: str, amount: int) -> None:
    step(f"Operator grants user {user_id} {amount} credits")
    body = admin.json(
        "POST",
        f"/api/admin/users/{user_id}/credits",
        expected=201,
        json={"amount": amount, "reason": "demo welcome credits"},
    )
    print(f"   balance: {body['balance']}")


def upload(user: Api, image: Path) -> str:
    step(f"Upload {image.name} ({image.stat().st_size:,} bytes)")
    content_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
    with image.open("rb") as handle:
        body = user.json(
            "POST",
            "/api/uploads",
            expected=201,
            files={"image": (image.name, handle, content_type)},
        )
    print(f"   imageUrl:  {body['imageUrl']}")
    print(f"   expiresAt: {body['expiresAt']}")
    return str(body["imageUrl"])


def show_styles(user: Api) -> None:
    step("Styles")
    for style in user.json("GET", "/api/headshots/styles")["data"]:
        print(f"   {style['id']:<12} {style['creditCost']} credit(s)  {style['description']}")


def generate(user: Api, image_url: str, style: str, aspect_ratio: str) -> str:
    step(f"Generate a {style!r} headshot, aspect ratio {aspect_ratio}")
    response = user.call(
        "POST",
        "/api/headshots/generate",
        202,
        json={"imageUrl": image_url, "style": style, "aspectRatio": aspect_ratio},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    headshot = response.json()
    print(f"   id: {headshot['id']}  status: {headshot['status']}")
    print(f"   Location: {response.headers.get('Location')}")
    return str(headshot["id"])


def progress_line(status: dict[str, Any]) -> str:
    progress = int(status.get("progress") or 0)
    filled = BAR_WIDTH * progress // 100
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    line = f"   [{bar}] {progress:3d}%  {status['status']:<10}"
    if status.get("queuePosition") is not None:
        line += f"  queue position {status['queuePosition']}"
    if status.get("etaSeconds") is not None:
        line += f"  eta {status['etaSeconds']}s"
    return line


def follow(user: Api, headshot_id: str, timeout: float) -> dict[str, Any]:
    step(f"Follow GET /api/headshots/status/{headshot_id} every second")
    # On a terminal the bar redraws in place; in a log, one line per change.
    in_place = sys.stdout.isatty()
    deadline = time.monotonic() + timeout
    last_line = ""
    while True:
        status: dict[str, Any] = user.json("GET", f"/api/headshots/status/{headshot_id}")
        line = progress_line(status)
        if in_place:
            print(f"\r{line:<{len(last_line)}}", end="", flush=True)
        elif line != last_line:
            print(line, flush=True)
        last_line = line
        if status["status"] in TERMINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            print()
            raise DemoError(f"headshot {headshot_id} not finished after {timeout:.0f} s")
        time.sleep(1)
    if in_place:
        print()
    if status["status"] == "failed":
        error = status.get("error") or {}
        raise DemoError(
            f"headshot {headshot_id} failed: {error.get('code')}: {error.get('message')}"
        )
    return status


def show_result(status: dict[str, Any]) -> None:
    step("Result")
    urls: list[str] = status.get("resultUrls") or []
    for url in urls:
        print(f"   resultUrl:    {url}")
    print(f"   thumbnailUrl: {status.get('thumbnailUrl')}")
    if not urls:
        raise DemoError("the completed headshot has no resultUrls")
    # The URL is signed: it works without the bearer token, as it would in an <img> tag.
    try:
        response = requests.get(urls[0], timeout=30)
    except requests.RequestException as exc:
        raise DemoError(f"cannot download {urls[0]}: {exc}") from exc
    if response.status_code != 200:
        raise DemoError(f"GET {urls[0]}: {response.status_code}\n{describe_error(response)}")
    with Image.open(io.BytesIO(response.content)) as image:
        width, height = image.size
        image_format = image.format
    print(
        f"   downloaded: {width}x{height} px, {image_format}, {len(response.content):,} bytes, "
        f"Content-Type {response.headers.get('Content-Type')}"
    )


def show_credits(user: Api) -> None:
    step("GET /api/me")
    me = user.json("GET", "/api/me")
    print(
        f"   credits: {me['credits']}  headshots generated: {me['totalHeadshotsGenerated']}  "
        f"credits spent: {me['totalCreditsSpent']}"
    )
    step("GET /api/credits/history")
    for entry in user.json("GET", "/api/credits/history")["data"]:
        print(
            f"   {entry['createdAt']}  {entry['type']:<9} {entry['amount']:>+4}  "
            f"balance {entry['balanceAfter']:>3}  {entry.get('description') or ''}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--style", default="corporate")
    parser.add_argument("--aspect-ratio", default="3:4")
    parser.add_argument("--image", type=Path, default=REPO_ROOT / "assets" / "sample-selfie.jpg")
    parser.add_argument("--credits", type=int, default=10, help="credits to grant the user")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the job")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    base_url = args.base_url.rstrip("/")
    if not args.image.is_file():
        raise DemoError(f"no image at {args.image}")
    check_ready(base_url)
    secret = os.environ.get("JWT_SECRET") or DEV_JWT_SECRET
    if secret == DEV_JWT_SECRET:
        # The short development secret is known to be weak; the service warns about it already.
        warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    user_id, admin_id = random_user_id(), random_user_id()
    session = requests.Session()
    user = Api(base_url, mint_token(secret, user_id, f"user{user_id}@example.com"), session)
    admin = Api(base_url, mint_token(secret, admin_id, "ops@example.com", admin=True), session)
    print(f"Service {base_url}; demo user {user_id}, operator {admin_id}")

    grant_credits(admin, user_id, args.credits)
    image_url = upload(user, args.image)
    show_styles(user)
    headshot_id = generate(user, image_url, args.style, args.aspect_ratio)
    show_result(follow(user, headshot_id, args.timeout))
    show_credits(user)
    show_web_client(base_url, user.token)
    print("\nDemo finished.")


def show_web_client(base_url: str, token: str) -> None:
    """The same user in the browser: the reference web client and a token to paste there."""
    step("Try it in the browser")
    print(f"   open:  {base_url}/app")
    print("   paste this token at its sign-in (the demo user's, valid for an hour):")
    print(f"   {token}")


def main(argv: list[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"\ndemo failed: unexpected response from the service: {exc!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
