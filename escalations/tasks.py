import datetime as dt

from celery import shared_task
from django.conf import settings

from escalations import timers
from escalations.idempotency import idempotency_prune


@shared_task
def prune_idempotency_records() -> int:
    return idempotency_prune(older_than=dt.timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS))


# No acks_late: a sweep lost with its worker is simply the next tick's work.
@shared_task(ignore_result=True)
def sweep_timers() -> dict[str, int]:
    return timers.sweep()
