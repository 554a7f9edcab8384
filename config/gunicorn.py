"""gunicorn settings for the `web` process (Procfile)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gthread: a slow client or a long status stream holds a thread, not a whole process.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
