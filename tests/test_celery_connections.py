"""Worker tasks hand their database connection back after each task; no per-task pool rebuild."""

import pytest
from celery.signals import task_postrun
from django.db import connection

from escalation_project.celery import app
from webhooks.tasks import sweep_due_deliveries


def test_celerys_django_fixup_does_not_close_everything_around_every_task():
    # Its per-task close rebuilds the whole psycopg pool in a prefork child (see settings).
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 100


@pytest.mark.django_db(transaction=True)
def test_a_task_run_by_a_worker_gives_its_connection_back():
    connection.ensure_connection()
    assert connection.connection is not None

    # As a worker runs it: not eager (the signal's sender has no eager request).
    task_postrun.send(sender=sweep_due_deliveries, task_id="t", task=sweep_due_deliveries)

    assert connection.connection is None  # closed, or returned to the pool on PostgreSQL


def test_a_task_applied_in_the_callers_transaction_leaves_its_connection_alone(db):
    before = connection.connection

    sweep_due_deliveries.apply()

    assert connection.connection is before
    assert connection.in_atomic_block
