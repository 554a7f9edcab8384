"""Flask app factory: `gunicorn 'api:create_app()'`."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.routing import BaseConverter

from config import Settings, get_settings, use_settings


class IdConverter(BaseConverter):
    """A positive id that fits a BIGINT; anything else does not match the route (404)."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return str(value)


def _no_content_untyped(response: Response) -> Response:
    """A 204 has no body: no Content-Type (Flask gives every response one), no length."""
    if response.status_code == 204:
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    return response


def create_app(settings: Settings | None = None) -> Flask:
    """The API, on `settings` (default: the environment's), which become the process's."""
    settings = use_settings(settings or get_settings())
    # Imported here, as Flask's tutorial does: the blueprints build on the settings above.
    from api.admin import admin
    from api.batches import batches
    from api.body_framing import GuardBodyFraming
    from api.body_limits import RouteBodyLimits
    from api.cli import backfill_command
    from api.cors import init_cors
    from api.credits import credits
    from api.dashboard import dashboard
    from api.devices import device_routes
    from api.docs import docs
    from api.errors import register_error_handlers
    from api.events import events
    from api.headshots import headshots
    from api.health import health
    from api.limits import init_limits
    from api.metrics import init_request_metrics, metrics
    from api.request_arrival import BoundBodyArrival
    from api.request_log import init_request_log
    from api.sharing import public_links, sharing_routes
    from api.signed_media import media
    from api.status import status
    from api.uploads import uploads
    from api.web_client import web_client
    from config.logs import configure_logging
    from workers.celery_app import celery_init

    configure_logging(log_format=settings.log_format, level=settings.log_level)
    app = Flask(__name__)
    app.extensions["celery"] = celery_init(settings)
    app.url_map.converters["id"] = IdConverter
    # `/media//etc/passwd` is a 404, not a 308 (HTML) to a path the client did not ask for.
    app.url_map.merge_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for blueprint in (health, docs, media, public_links, uploads, headshots, batches,
                      sharing_routes, status, credits, device_routes, events, admin,
                      dashboard, web_client, metrics):
        app.register_blueprint(blueprint)
    app.cli.add_command(backfill_command)
    register_error_handlers(app)
    app.after_request(_no_content_untyped)
    init_cors(app)  # before the limits: a preflight spends no budget
    init_limits(app)
    init_request_metrics(app)
    init_request_log(app)
    # No body longer than the largest route's reaches Flask, whatever the middleware below.
    body_limits = RouteBodyLimits(app)
    app.config["MAX_CONTENT_LENGTH"] = body_limits.largest()
    # Outermost: the body is refused (too long for its route) or read in time before anything
    # else sees it.
    app.wsgi_app = BoundBodyArrival(  # type: ignore[method-assign]
        GuardBodyFraming(app.wsgi_app), limit_of=body_limits.for_request)
    from services.health import warn_about_configuration

    warn_about_configuration("web")  # e.g. a Redis that may evict the job queue
    return app
