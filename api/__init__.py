"""Flask app factory: `gunicorn 'api:create_app()'`."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.routing import BaseConverter

from api.admin import admin
from api.credits import credits
from api.docs import docs
from api.errors import register_error_handlers
from api.headshots import headshots
from api.health import health
from api.limits import init_limits
from api.media import media
from api.status import status
from api.uploads import uploads
from config import get_settings

MULTIPART_OVERHEAD = 64 * 1024


class IdConverter(BaseConverter):
    """A positive id that fits a BIGINT; anything else does not match the route (404)."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return str(value)


def create_app() -> Flask:
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    # `/media//etc/passwd` is a 404, not a 308 (HTML) to a path the client did not ask for.
    app.url_map.merge_slashes = False
    # Bodies beyond this are refused (413) before they are read.
    app.config["MAX_CONTENT_LENGTH"] = settings.upload_max_bytes + MULTIPART_OVERHEAD
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for blueprint in (health, docs, media, uploads, headshots, status, credits, admin):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    init_limits(app)
    return app
