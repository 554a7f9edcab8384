"""`python -m workers.flower`: Flower behind basic auth, refusing to start without it."""

import os
import sys

from config import get_settings


def main() -> None:
    credentials = get_settings().flower_basic_auth
    if not credentials or ":" not in credentials:
        sys.exit("FLOWER_BASIC_AUTH must be set to user:password; refusing to start Flower")
    port = os.environ.get("FLOWER_PORT", "5555")
    os.execvp(
        "celery",
        ["celery", "-A", "workers.celery_app", "flower", f"--port={port}",
         f"--basic-auth={credentials}"],
    )


if __name__ == "__main__":
    main()
