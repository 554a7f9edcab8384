"""The chaos harness: one whole stack per scenario, faults on demand, and the promise checked.

The promise under test: a headshot you paid for either arrives or your credits come back,
exactly once, whatever breaks.

- `stack`: `ChaosStack` starts, for one scenario only, a fresh database, its own redis-server,
  the fake GetImg, the `web` process (gunicorn), one or more `worker` processes and a `beat`
  process, all as subprocesses with an environment built from scratch (nothing is inherited
  from the pytest process, whose own settings point at the session's services). It talks to
  its stack only over HTTP and through its own psycopg2 connection (`database`): never through
  `models.db` or `get_settings()` of this process.
- `watcher`: polls every submitted job's status, as the app does, and keeps what it saw.
- `promise`: `check_promise`, the end of every scenario: it waits until no job is in flight,
  then checks every job, the ledger, the files and the progress the app saw, and records the
  summary line that `tests/chaos/conftest.py` prints at the end of the run.
"""
