"""The API steps of the container test (tests/container/run.sh), against the containers' web.

`python -m tests.container.walk headshot`: one headshot from upload to downloaded result.
`... start`: a headshot generated and seen `processing` (a worker holds it); prints
`USER_ID HEADSHOT_ID` as its last line. `... status USER_ID HEADSHOT_ID`: prints its status.
`... finish USER_ID HEADSHOT_ID`: follows it to `completed` and downloads the result.

Tokens are minted with JWT_SECRET as scripts/demo.py mints them; its steps are reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import requests

from scripts.demo import (
    Api,
    DemoError,
    follow,
    generate,
    grant_credits,
    mint_token,
    random_user_id,
    show_result,
    upload,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SELFIE = REPO_ROOT / "assets" / "sample-selfie.jpg"
JOB_TIMEOUT_SECONDS = 120


def user_api(base_url: str, user_id: str) -> Api:
    secret = os.environ["JWT_SECRET"]
    return Api(base_url, mint_token(secret, user_id, f"user{user_id}@example.com"),
               requests.Session())


def new_user_with_credits(base_url: str) -> tuple[str, Api]:
    user_id, admin_id = random_user_id(), random_user_id()
    secret = os.environ["JWT_SECRET"]
    admin = Api(base_url, mint_token(secret, admin_id, "ops@example.com", admin=True),
                requests.Session())
    grant_credits(admin, user_id, 5)
    return user_id, user_api(base_url, user_id)


def start_job(base_url: str) -> tuple[str, str]:
    user_id, user = new_user_with_credits(base_url)
    headshot_id = generate(user, upload(user, SELFIE), "corporate", "3:4")
    deadline = time.monotonic() + 60
    while (status := user.json("GET", f"/api/headshots/status/{headshot_id}"))["status"] \
            != "processing":
        if status["status"] != "queued" or time.monotonic() > deadline:
            raise DemoError(f"headshot {headshot_id} never seen processing: {status}")
        time.sleep(0.2)
    print(f"   processing: a worker holds it ({status.get('progress')}%)")
    return user_id, headshot_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("step", choices=["headshot", "start", "status", "finish"])
    parser.add_argument("ids", nargs="*", help="USER_ID HEADSHOT_ID (status, finish)")
    args = parser.parse_args(argv)
    base_url = args.base_url.rstrip("/")
    try:
        if args.step == "headshot":
            _, user = new_user_with_credits(base_url)
            headshot_id = generate(user, upload(user, SELFIE), "corporate", "3:4")
            show_result(follow(user, headshot_id, JOB_TIMEOUT_SECONDS))
        elif args.step == "start":
            print(*start_job(base_url))
        else:
            user_id, headshot_id = args.ids
            user = user_api(base_url, user_id)
            if args.step == "status":
                print(user.json("GET", f"/api/headshots/status/{headshot_id}")["status"])
            else:
                show_result(follow(user, headshot_id, JOB_TIMEOUT_SECONDS))
    except DemoError as exc:
        print(f"walk failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
