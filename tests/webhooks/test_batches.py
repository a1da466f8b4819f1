"""One task sends a batch: each due delivery once; a slow batch hands the rest back; a 410 stops it."""

import time
from unittest import mock

import pytest
from werkzeug import Response

from tests.webhooks.conftest import NOW, deliveries_of, open_escalation
from webhooks import services
from webhooks.models import Attempt, Delivery, DeliveryStatus


@pytest.fixture
def no_broker():
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        yield delay


def test_a_batch_sends_only_the_deliveries_that_are_due_and_not_held_by_another_worker(
    receiver, team, clock, no_broker
):
    first = services.endpoint_create(team=team, url=receiver.url_for("/a"))
    held = services.endpoint_create(team=team, url=receiver.url_for("/b"))
    receiver.expect_request("/a").respond_with_data("ok")
    open_escalation(team)
    (sent,), (other,) = deliveries_of(first), deliveries_of(held)
    # Another worker claimed this one a moment ago.
    Delivery.objects.filter(pk=other.pk).update(next_attempt_at=NOW + services.SEND_LEASE)

    done = services.deliveries_attempt(delivery_ids=[sent.pk, other.pk])

    assert [d.pk for d in done] == [sent.pk]
    assert [request.path for request, _ in receiver.log] == ["/a"]
    assert list(Attempt.objects.values_list("delivery_id", "number")) == [(sent.pk, 1)]
    other.refresh_from_db()
    assert (other.status, other.attempt_count) == (DeliveryStatus.PENDING, 0)


def test_a_batch_past_its_time_hands_the_rest_back_to_the_queue_at_once(
    receiver, hook_endpoint, team, no_broker, monkeypatch, django_capture_on_commit_callbacks
):
    def slow(request):
        # The sleep is the behaviour under test, not a wait: a receiver slower than the batch's
        # time (0.1 s below), which the batch measures on the real monotonic clock.
        time.sleep(0.3)
        return Response("ok")

    receiver.expect_request("/hook").respond_with_handler(slow)
    open_escalation(team)
    open_escalation(team)
    first, second = deliveries_of(hook_endpoint)
    monkeypatch.setattr(services, "BATCH_SEND_SECONDS", 0.1)

    with django_capture_on_commit_callbacks(execute=True):
        done = services.deliveries_attempt(delivery_ids=[first.pk, second.pk])

    assert [d.pk for d in done] == [first.pk]
    assert len(receiver.log) == 1
    second.refresh_from_db()
    assert (second.status, second.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert second.next_attempt_at <= second.updated_at  # due again now, not after the lease
    no_broker.assert_called_once_with([second.pk])


def test_a_410_in_a_batch_disables_the_endpoint_and_stops_sends_to_it(
    receiver, hook_endpoint, team, no_broker
):
    receiver.expect_request("/hook").respond_with_data("gone", status=410)
    open_escalation(team)
    open_escalation(team)
    first, second = deliveries_of(hook_endpoint)

    services.deliveries_attempt(delivery_ids=[first.pk, second.pk])

    assert len(receiver.log) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    hook_endpoint.refresh_from_db()
    assert first.status == second.status == DeliveryStatus.FAILED
    assert second.last_error == "Not sent: the endpoint is disabled."
    assert not hook_endpoint.active
