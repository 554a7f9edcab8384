"""Celery configuration (read by `workers.celery_app`): what does not depend on the settings.

Reliability first: a job's message is acknowledged only after the task has run, and a worker
that dies mid-task hands the message back, because the generation task is idempotent
(it claims its row with a conditional UPDATE before doing anything).
"""

broker_connection_retry_on_startup = True
broker_transport_options = {
    # An unacknowledged message returns to the queue after this long; longer than the
    # longest retry countdown (GetImg's, and webhooks' up to 600 s) so a delayed retry is not
    # delivered twice.
    "visibility_timeout": 900,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# The API must answer 503 quickly when Redis is down, not hang on publish retries.
task_publish_retry_policy = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

task_ignore_result = True
result_backend = None

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

task_default_queue = "headshots"
task_routes = {
    "headshots.*": {"queue": "headshots"},
    "maintenance.*": {"queue": "maintenance"},
    "webhooks.*": {"queue": "maintenance"},
    "push.*": {"queue": "maintenance"},
}

# Flower shows every task with its arguments (the headshot id): the worker's task-received
# event carries them. No task-sent event from the publisher: it was a second Redis PUBLISH in
# every accept request for a PENDING->SENT state nobody reads.
worker_send_task_events = True
# ...flushed to Flower in batches by a timer, not one PUBLISH per event: workers/task_events.py.
worker_consumer = "workers.task_events:Consumer"

timezone = "UTC"
enable_utc = True


def __getattr__(name: str) -> object:
    # Read lazily: the schedule is declared next to its tasks, which import the Celery app.
    if name == "beat_schedule":
        from workers import maintenance, webhooks
        from workers.push import tasks as push

        return {**maintenance.beat_schedule(), **webhooks.beat_schedule(),
                **push.beat_schedule()}
    raise AttributeError(name)
