import os

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

app = Celery("escalation_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def release_database_connections(sender=None, **kwargs) -> None:
    """Give a worker task's connections back (see CELERY_DB_REUSE_MAX in settings): to the pool
    on PostgreSQL, closed on SQLite; a connection that failed is closed, not reused."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run by apply() in the caller's thread: its connection, maybe mid-transaction, is not ours
    from django.db import close_old_connections

    close_old_connections()
