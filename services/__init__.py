"""The use cases: what the API's routes and the Celery tasks both call.

Each function opens its own unit of work (`services/unit_of_work.py`), applies the domain rules
of `models/`, commits explicitly, and leaves what follows a commit to the after-commit path.
"""
