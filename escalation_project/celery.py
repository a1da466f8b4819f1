import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from escalation_project import heartbeats, request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

app = Celery("escalation_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def delay_by_name(task_name: str, *args: Any) -> None:
    """Send the task registered under this name (ProjectConfig.ready registers every app's tasks).

    For the outboxes: a task calls the services that call the outbox, so the outbox names
    its task rather than importing its module, and the imports go one way.
    """
    app.tasks[task_name].delay(*args)


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """The worker and beat log as daphne does (settings.LOGGING: LOG_FORMAT, LOG_LEVEL).

    A receiver here stops Celery from replacing the root logger's handlers with
    its own plain format, so its `--loglevel` has no effect: LOG_LEVEL decides.
    """
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# --- The request id travels with the task (escalation_project/request_id.py) ---------
# A message header rather than an argument: every task gets it without changing its
# signature, and a task enqueued from inside a task (the sweep's deliveries) passes it on.
REQUEST_ID_HEADER = "request_id"


@before_task_publish.connect
def carry_request_id(sender=None, headers=None, **kwargs) -> None:
    current = request_id.current()
    if current and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, current)
    if sender == HEARTBEAT_TASK:  # only beat sends it: beat is alive
        heartbeats.record("beat")


@task_prerun.connect
def bind_request_id(task=None, **kwargs) -> None:
    """The id of the request (or task) that enqueued this one; a new one for beat's own tasks.

    Run eagerly (apply()), the task keeps its caller's id.
    """
    sent = getattr(task.request, REQUEST_ID_HEADER, None)
    if not (isinstance(sent, str) and request_id.VALID.fullmatch(sent)):
        sent = request_id.current() or request_id.new()
    task.request._request_id_token = request_id.bind(sent)


@task_postrun.connect
def unbind_request_id(task=None, **kwargs) -> None:
    token = getattr(task.request, "_request_id_token", None)
    if token is not None:
        request_id.unbind(token)
        task.request._request_id_token = None


@task_postrun.connect
def release_database_connections(sender=None, **kwargs) -> None:
    """Give a worker task's connections back (see CELERY_DB_REUSE_MAX in settings): to the pool
    on PostgreSQL, closed on SQLite; a connection that failed is closed, not reused."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run by apply() in the caller's thread: its connection, maybe mid-transaction, is not ours
    from django.db import close_old_connections

    close_old_connections()


# --- Heartbeat: /readyz and /metrics say when beat and a worker last did their work ---


# Beat sends this every HEARTBEAT_SECONDS (settings): sending it records beat's heartbeat
# (carry_request_id above), a worker running it the worker's. A worker alive but far
# behind its queue shows as late as one that is gone, which is what matters.
HEARTBEAT_TASK = "escalation_project.heartbeat"


@app.task(name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat() -> None:
    heartbeats.record("worker")
