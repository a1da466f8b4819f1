"""The sweep enqueues what is due, once: a row whose message waits in the broker is left alone."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection, transaction

from tests.webhooks.conftest import NOW, deliveries_of, open_escalation
from webhooks import outbox, services
from webhooks.models import Delivery, DeliveryStatus, Endpoint
from webhooks.tasks import sweep_due_deliveries

URL = "https://93.184.216.34/hook"


@pytest.fixture
def endpoint(team):
    return services.endpoint_create(team=team, url=URL)


def sweep() -> list[int]:
    """Run the beat's task; return the ids it handed to the broker."""
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        sweep_due_deliveries.apply()
    return [pk for call in delay.call_args_list for pk in call.args[0]]


def test_the_sweep_picks_only_due_rows(endpoint, team, clock):
    open_escalation(team)
    open_escalation(team)
    due, later = deliveries_of(endpoint)
    # Their messages were lost with the broker (the commit's enqueue never ran here): no lease left.
    Delivery.objects.update(enqueued_until=None)
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=NOW + dt.timedelta(seconds=1))

    assert sweep() == [due.pk]
    clock.shift(dt.timedelta(seconds=1))
    assert sweep() == [later.pk]


def test_a_row_whose_message_waits_in_the_queue_is_not_enqueued_again_while_workers_lag(
    endpoint, team, clock, django_capture_on_commit_callbacks
):
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            open_escalation(team)
    (delivery,) = deliveries_of(endpoint)
    delay.assert_called_once_with([delivery.pk])

    # No worker picks it up: sweeps every 5 s during the lease add nothing to the queue.
    for _ in range(int(outbox.ENQUEUE_LEASE.total_seconds() // 5) - 1):
        clock.shift(dt.timedelta(seconds=5))
        assert sweep() == []

    # Past the lease the message counts as lost (a broker restart): one more, and again only one.
    clock.shift(dt.timedelta(seconds=5))
    assert sweep() == [delivery.pk]
    assert sweep() == []


def test_a_worker_claiming_the_row_ends_the_lease_so_its_retry_is_swept_when_due(
    receiver, hook_endpoint, team, clock, django_capture_on_commit_callbacks
):
    receiver.expect_request("/hook").respond_with_data("busy", status=503)
    with mock.patch("webhooks.tasks.deliver.delay"):
        with django_capture_on_commit_callbacks(execute=True):
            open_escalation(team)
    (delivery,) = deliveries_of(hook_endpoint)

    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.enqueued_until) == (DeliveryStatus.RETRYING, None)

    assert sweep() == []
    clock.move_to(delivery.next_attempt_at)
    assert sweep() == [delivery.pk]


def test_a_failed_enqueue_gives_the_lease_back_at_once(
    endpoint, team, clock, django_capture_on_commit_callbacks
):
    with mock.patch("webhooks.tasks.deliver.delay", side_effect=ConnectionError("redis is down")):
        with django_capture_on_commit_callbacks(execute=True):
            open_escalation(team)
            open_escalation(team)

    assert sweep() == [d.pk for d in deliveries_of(endpoint)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_take_disjoint_rows(team):
    endpoint = services.endpoint_create(team=team, url=URL)
    for _ in range(3):
        open_escalation(team)
    Delivery.objects.update(enqueued_until=None)
    locked, release = threading.Event(), threading.Event()
    held: list[int] = []

    def another_sweep_in_progress():
        # What deliveries_claim_due holds between its SELECT … FOR UPDATE and its commit.
        with transaction.atomic():
            rows = Delivery.objects.select_for_update().order_by("id")[:2]
            held.extend(rows.values_list("pk", flat=True))
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=another_sweep_in_progress)
    thread.start()
    assert locked.wait(10)
    try:
        # Does not wait for the other transaction, and takes none of its rows.
        taken = outbox.deliveries_claim_due()
    finally:
        release.set()
        thread.join(10)

    all_ids = [d.pk for d in deliveries_of(endpoint)]
    assert held == all_ids[:2]
    assert taken == all_ids[2:]


def test_a_resting_endpoints_rows_are_left_for_after_its_rest(endpoint, team, clock):
    other = services.endpoint_create(team=team, url="https://93.184.216.35/hook")
    open_escalation(team)
    (resting,), (due,) = deliveries_of(endpoint), deliveries_of(other)
    Delivery.objects.update(enqueued_until=None)
    rest_over = NOW + dt.timedelta(seconds=5)
    Endpoint.objects.filter(pk=endpoint.pk).update(resting_until=rest_over, rest_seconds=5)

    assert sweep() == [due.pk]
    clock.move_to(rest_over)
    assert sweep() == [resting.pk]
