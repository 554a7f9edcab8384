"""Command line: `python -m fakes.getimg --host 127.0.0.1 --port N [--<knob> value]`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from werkzeug.serving import make_server

import fakes.getimg as package
from fakes.getimg.app import create_app
from fakes.getimg.state import DEFAULTS, coerce_knob


def startup_config(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """Knobs from GETIMG_FAKE_CONFIG, then GETIMG_FAKE_<KNOB>, then --<knob> flags."""
    raw: dict[str, Any] = json.loads(environ.get("GETIMG_FAKE_CONFIG") or "{}")
    for name in DEFAULTS:
        if f"GETIMG_FAKE_{name.upper()}" in environ:
            raw[name] = environ[f"GETIMG_FAKE_{name.upper()}"]
        if getattr(args, name) is not None:
            raw[name] = getattr(args, name)
    return {name: coerce_knob(name, value) for name, value in raw.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.getimg", description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("GETIMG_FAKE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GETIMG_FAKE_PORT", 8090)),
                        help="0 picks a free port (read it from the 'listening' line)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                            help=f"default: {json.dumps(default)}")
    args = parser.parse_args(argv)
    try:
        config = startup_config(args, os.environ)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    secret = os.environ.get("GETIMG_FAKE_SECRET", "").encode() or None
    server = make_server(args.host, args.port, create_app(config, secret), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"getimg-fake listening on http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
