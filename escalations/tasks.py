import datetime as dt
import smtplib

from celery import shared_task
from django.conf import settings

from escalations import notifications, timers
from escalations.idempotency import idempotency_prune


@shared_task
def prune_idempotency_records() -> int:
    return idempotency_prune(older_than=dt.timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS))


# No acks_late: a sweep lost with its worker is simply the next tick's work.
@shared_task(ignore_result=True)
def sweep_timers() -> dict[str, int]:
    return timers.sweep()


# Retried on mail server errors, with waits well under the broker's visibility timeout.
EMAIL_TASK = {
    "ignore_result": True,
    "autoretry_for": (OSError, smtplib.SMTPException),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(**EMAIL_TASK)
def send_reminder_email(event_id: int) -> int:
    return notifications.send_reminder_email(event_id=event_id)


@shared_task(**EMAIL_TASK)
def send_event_email(event_id: int, usernames: list[str]) -> int:
    return notifications.send_event_email(event_id=event_id, usernames=usernames)
