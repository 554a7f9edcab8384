"""The bare baseline: a few lines of Flask, no middleware, served by config/gunicorn.py exactly
as `web` is (so a change of worker class or counts moves the baseline with it).

- `/ping`: a JSON dict, no I/O;
- `/redis`: one Redis GET;
- `/pg-write`: one committed INSERT (SQLAlchemy, pool of 8 per process, no pre-ping);
- `/enqueue?jobs=N`: the floor of accepting N jobs on this stack: N rows in one committed
  INSERT, then one Celery task per row published as the service publishes its jobs (no queue
  declared; several in one kombu batch, one Redis round trip). No worker takes them.
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, request
from redis import Redis
from sqlalchemy import create_engine, text

from bench.bare_tasks import QUEUE
from bench.bare_tasks import app as tasks

app = Flask(__name__)
redis = Redis.from_url(os.environ["REDIS_URL"])
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=8, max_overflow=8,
)
INSERT = text(f"INSERT INTO {os.environ['BARE_TABLE']} (payload) VALUES ('{{}}'::jsonb)")
TASK = "bare.wait"
PUBLISHING = {"queue": f"{QUEUE}-accept", "declare": [], "ignore_result": True}
INSERT_ROWS = text(f"INSERT INTO {os.environ['BARE_TABLE']} (payload) "
                   "SELECT '{}'::jsonb FROM generate_series(1, :rows) RETURNING id")


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


@app.route("/enqueue", methods=["GET", "POST"])
def enqueue() -> Response:
    with engine.begin() as connection:
        ids = connection.execute(INSERT_ROWS, {"rows": request.args.get("jobs", 1, int)}
                                 ).scalars().all()
    if len(ids) == 1:
        tasks.send_task(TASK, args=ids, **PUBLISHING)
    else:
        with tasks.producer_or_acquire() as producer, producer.batch():
            for row_id in ids:
                tasks.send_task(TASK, args=[row_id], producer=producer, **PUBLISHING)
    return jsonify(ids=ids)


# A forked gunicorn worker must not share its parent's connections.
os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
