from celery import shared_task

from webhooks import outbox, services


# acks_late + reject_on_worker_lost: a worker killed mid-attempt leaves the
# message to be delivered again; the claim in the service keeps it to one sender.
# The soft limit stays under services.SEND_LEASE, so a stuck batch ends before
# another worker may claim its deliveries (and a batch stops starting sends
# early enough to end within it: services.BATCH_SEND_SECONDS).
@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=45)
def deliver(delivery_ids: list[int]) -> None:
    services.deliveries_attempt(delivery_ids=delivery_ids)


@shared_task(ignore_result=True)
def sweep_due_deliveries() -> int:
    ids = outbox.deliveries_claim_due()
    outbox.enqueue(ids)
    return len(ids)
