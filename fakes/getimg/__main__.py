"""Command line: `python -m fakes.getimg --host 127.0.0.1 --port N [--<knob> value]`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import gevent

import fakes.getimg as package
from fakes.getimg.app import create_app
from fakes.getimg.server import NoDelayWSGIServer
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
    secret = os.environ.get("GETIMG_FAKE_SECRET", "").encode() or None
    # gevent's WSGI server keeps connections alive (HTTP/1.1) as the real GetImg does, so the
    # worker's client reuses its connections here too; werkzeug's development server closed
    # every one, so each call of a job paid a new TCP connection the real service never costs.
    # A request body the app left unread is discarded before the next request on the
    # connection. Every request runs in its own greenlet: the app sleeps with gevent.sleep.
    server = NoDelayWSGIServer((args.host, args.port),
                               create_app(config, secret, sleep=gevent.sleep),
                               log=sys.stderr if args.verbose else None)
    server.init_socket()
    gevent.signal_handler(signal.SIGTERM, server.stop)
    print(f"getimg-fake listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
