"""The bare baseline: a few lines of Flask, no middleware, served by config/gunicorn.py exactly
as `web` is (so a change of worker class or counts moves the baseline with it).

- `/ping`: a JSON dict, no I/O;
- `/redis`: one Redis GET;
- `/pg-write`: one committed INSERT (SQLAlchemy, pool of 8 per process, no pre-ping).
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify
from redis import Redis
from sqlalchemy import create_engine, text

app = Flask(__name__)
redis = Redis.from_url(os.environ["REDIS_URL"])
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=8, max_overflow=8,
)
INSERT = text(f"INSERT INTO {os.environ['BARE_TABLE']} (payload) VALUES ('{{}}'::jsonb)")


@app.get("/ping")
def ping() -> Response:
    return jsonify(ok=True)


@app.get("/redis")
def one_get() -> Response:
    return jsonify(value=redis.get("bench:bare") is not None)


@app.route("/pg-write", methods=["GET", "POST"])
def pg_write() -> Response:
    with engine.begin() as connection:
        connection.execute(INSERT)
    return jsonify(ok=True)


# A forked gunicorn worker must not share its parent's connections.
os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
