"""What the test suites share; test modules and conftest.py files import from here, never from
each other. The processes themselves (a database, Redis, gunicorn, a Celery worker) are started
by the top-level `devstack` package, which the benchmarks use too.

- `session`: this run's ports, run directory, database name and installed settings;
- `users`: fresh user ids, tokens (`make_token`, `auth`, `ADMIN`);
- `errors`: `assert_error`, the API guide's §3 error check for any kind of response;
- `ledger`: `assert_ledger_consistent`, the money invariant behind the `ledger_invariant` fixture;
- `assets`: the image files the tests send;
- `api_calls`: calls against the in-process Flask app (`client`);
- `live`: `LiveServer` and `LiveUser`, the one HTTP client for a live server;
- `domain`: users, uploads and jobs made through the domain layer, not the routes;
- `routes`: walking the URL map;
- `hostile`: counting hostile inputs, and "nothing changed";
- `chaos`: the chaos harness (a whole stack per scenario, and the promise checked);
- `schemathesis_hooks`: what schemathesis plants in its requests (loaded by its CLI).
"""
