import logging
import os

from celery import Celery
from celery.signals import after_setup_logger

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
