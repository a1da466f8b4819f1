import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

app = Celery("escalation_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat sends a sweep every few seconds; at INFO, Celery logs three lines for each
# ("Sending due task", "received", "succeeded"), which buries everything else in
# `make run`'s output. Failures are still logged (ERROR), and so is what our own
# tasks log about the work they did.
ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


@after_setup_logger.connect
def quiet_routine_task_logs(**kwargs) -> None:
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@task_postrun.connect
def release_database_connections(sender=None, **kwargs) -> None:
    """Give a worker task's connections back (see CELERY_DB_REUSE_MAX in settings): to the pool
    on PostgreSQL, closed on SQLite; a connection that failed is closed, not reused."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run by apply() in the caller's thread: its connection, maybe mid-transaction, is not ours
    from django.db import close_old_connections

    close_old_connections()
