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
EMAIL_RETRY_BACKOFF = 30
EMAIL_RETRY_BACKOFF_MAX = 600


@shared_task(bind=True, ignore_result=True, max_retries=5)
def send_event_emails(self, items: list[tuple[int, list[str]]]) -> int:
    """Each (event id, usernames): email that event to those users. One task per transaction
    (a timer's batch of events), so the broker sees one message, not one per event.

    A retry carries only the emails that failed, so nobody gets one twice.
    """
    failed, error, sent = [], None, 0
    for event_id, usernames in items:
        try:
            sent += notifications.send_event_email(event_id=event_id, usernames=usernames)
        except (OSError, smtplib.SMTPException) as exc:
            failed.append((event_id, usernames))
            error = exc
    if failed:
        wait = min(EMAIL_RETRY_BACKOFF * 2**self.request.retries, EMAIL_RETRY_BACKOFF_MAX)
        raise self.retry(args=[failed], exc=error, countdown=wait)
    return sent
