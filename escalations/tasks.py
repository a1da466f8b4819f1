import datetime as dt

from celery import shared_task
from django.conf import settings

from escalations.idempotency import idempotency_prune


@shared_task
def prune_idempotency_records() -> int:
    return idempotency_prune(older_than=dt.timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS))
