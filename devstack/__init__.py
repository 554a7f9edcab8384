"""The processes the tests and the benchmarks start on this machine, each on free ports.

- `database`: a database of its own on the local PostgreSQL: create, migrate, drop;
- `postgres_cluster`: a whole PostgreSQL server of its own (the chaos suite restarts it);
- `processes`: a subprocess in its own process group logging to a file, the command lines of
  redis-server, gunicorn (`web`), a Celery worker and beat, and waiting for each to be ready;
- `waiting`: `wait_until`, the one polling loop.

The fake GetImg server has its own launcher, `fakes/getimg/process.py`. Nothing here is part
of the service: production runs the `Procfile`.
"""
