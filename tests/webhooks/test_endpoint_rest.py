"""An endpoint that does not answer rests: its deliveries wait, unsent, so it cannot stall the others."""

import datetime as dt
import socket

import pytest
from django.utils import timezone
from urllib3.util import Timeout

from tests.webhooks.conftest import NOW, deliveries_of, open_escalation
from webhooks import sender, services
from webhooks.models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint


@pytest.fixture
def silent_url(monkeypatch):
    """A receiver that takes the connection and never answers: every send times out."""
    monkeypatch.setattr(sender, "TIMEOUT", Timeout(connect=1.0, read=1.0, total=0.2))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes the handshakes; nobody ever reads
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"


@pytest.fixture
def endpoints(receiver, silent_url, team):
    receiver.expect_request("/ok").respond_with_data("ok")
    silent = services.endpoint_create(team=team, url=silent_url)
    healthy = services.endpoint_create(team=team, url=receiver.url_for("/ok"))
    return silent, healthy


def event_batches(team, silent, healthy, events: int) -> list[list[int]]:
    """Open `events` escalations; each event's deliveries, as the outbox enqueues them."""
    for _ in range(events):
        open_escalation(team)
    return [[a.pk, b.pk] for a, b in zip(deliveries_of(silent), deliveries_of(healthy), strict=True)]


def attempts_to(endpoint) -> int:
    return Attempt.objects.filter(delivery__endpoint=endpoint).count()


def test_after_a_timeout_the_endpoint_rests_and_the_other_endpoints_deliveries_still_go(
    clock, endpoints, team, receiver
):
    silent, healthy = endpoints
    batches = event_batches(team, silent, healthy, 3)

    for batch in batches:
        services.deliveries_attempt(delivery_ids=batch)

    # One send timed out; the two later batches did not wait on the silent receiver again.
    assert attempts_to(silent) == 1
    assert attempts_to(healthy) == 3
    assert [request.path for request, _ in receiver.log] == ["/ok"] * 3
    silent.refresh_from_db()
    assert (silent.resting_until, silent.rest_seconds) == (NOW + dt.timedelta(seconds=5), 5)
    first, *waiting = deliveries_of(silent)
    assert (first.status, first.attempt_count, first.last_error) == (DeliveryStatus.RETRYING, 1, "Timed out.")
    for delivery in waiting:
        # Unsent and uncounted: the retry schedule of each starts at its first real attempt.
        assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 0)
        assert delivery.next_attempt_at == silent.resting_until
        assert delivery.enqueued_until is None  # the sweep takes it when the rest is over
        assert "the endpoint rests until 2026-03-02 09:00:05 UTC" in delivery.last_error
    assert all(d.status == DeliveryStatus.SUCCEEDED for d in deliveries_of(healthy))


def test_a_rest_doubles_while_the_receiver_keeps_not_answering_up_to_five_minutes(clock, endpoints, team):
    silent, healthy = endpoints
    (batch,) = event_batches(team, silent, healthy, 1)
    (delivery,) = deliveries_of(silent)
    rests = []
    for _ in range(8):
        # Each attempt times out; the delivery's own wait (5 s, 5 min, ...) and the rest differ,
        # so clear the way to the next attempt at once.
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.deliveries_attempt(delivery_ids=[delivery.pk])
        silent.refresh_from_db()
        rests.append(silent.rest_seconds)
        assert silent.resting_until == timezone.now() + dt.timedelta(seconds=silent.rest_seconds)
        clock.move_to(silent.resting_until)

    assert rests == [5, 10, 20, 40, 80, 160, 300, 300]


def test_any_answer_ends_the_rest_even_an_error(clock, endpoints, team, receiver):
    silent, healthy = endpoints
    batch_one, batch_two = event_batches(team, silent, healthy, 2)
    services.deliveries_attempt(delivery_ids=batch_one)
    silent.refresh_from_db()
    assert silent.rest_seconds == 5
    # The receiver is back, answering 503 for now.
    receiver.expect_request("/back").respond_with_data("busy", status=503)
    Endpoint.objects.filter(pk=silent.pk).update(url=receiver.url_for("/back"))
    clock.move_to(silent.resting_until)

    services.deliveries_attempt(delivery_ids=batch_two)

    silent.refresh_from_db()
    assert (silent.resting_until, silent.rest_seconds) == (None, 0)
    waited = Delivery.objects.get(pk=batch_two[0])
    assert (waited.status, waited.attempt_count, waited.last_status_code) == (DeliveryStatus.RETRYING, 1, 503)


def test_a_redelivery_a_person_asks_for_ends_the_rest(clock, endpoints, team, receiver):
    silent, healthy = endpoints
    (batch,) = event_batches(team, silent, healthy, 1)
    services.deliveries_attempt(delivery_ids=batch)
    (delivery,) = deliveries_of(silent)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    receiver.expect_request("/fixed").respond_with_data("ok")
    Endpoint.objects.filter(pk=silent.pk).update(url=receiver.url_for("/fixed"))

    assert services.delivery_redeliver(delivery_id=delivery.pk)
    services.deliveries_attempt(delivery_ids=[delivery.pk])  # what the queued task does

    delivery.refresh_from_db()
    silent.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert silent.rest_seconds == 0


def test_a_refused_address_is_not_a_silence_and_starts_no_rest(clock, team, loopback_allowed, settings):
    endpoint = services.endpoint_create(team=team, url="http://127.0.0.1:9/hook")
    settings.WEBHOOKS_ALLOW_LOOPBACK = False  # the address check now refuses it at connect time
    open_escalation(team)
    (delivery,) = deliveries_of(endpoint)

    services.deliveries_attempt(delivery_ids=[delivery.pk])

    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert (endpoint.resting_until, endpoint.rest_seconds) == (None, 0)


def test_when_a_rest_is_over_one_batch_probes_and_the_others_wait_for_its_answer(clock, endpoints, team):
    silent, healthy = endpoints
    first, second, third = event_batches(team, silent, healthy, 3)
    services.deliveries_attempt(delivery_ids=first)  # no answer: a 5 s rest
    clock.move_to(NOW + dt.timedelta(seconds=6))
    # Two worker threads claimed a batch each before either sent anything.
    batch_a, batch_b = (
        services._EndpointRests(list(Delivery.objects.select_related("endpoint").filter(pk__in=ids)))
        for ids in (second, third)
    )

    assert batch_a.wait_until(silent.pk) is None  # it sends: the probe
    held = timezone.now() + services.ENDPOINT_PROBE_HOLD
    assert batch_b.wait_until(silent.pk) == held  # it waits for the probe's answer
    silent.refresh_from_db()
    assert silent.resting_until == held
    batch_a.after(silent.pk, services.Decision(AttemptOutcome.SUCCEEDED))
    silent.refresh_from_db()
    assert (silent.resting_until, silent.rest_seconds) == (None, 0)


def test_a_probe_goes_last_in_its_batch_so_its_timeout_holds_up_no_other_receiver(clock, endpoints, team):
    silent, healthy = endpoints
    first, second, third = event_batches(team, silent, healthy, 3)
    services.deliveries_attempt(delivery_ids=first)
    clock.move_to(NOW + dt.timedelta(seconds=6))  # the rest is over: the next send to it is a probe
    probe, other = second[0], third[1]  # the silent endpoint's delivery has the lower id
    assert probe < other

    services.deliveries_attempt(delivery_ids=[probe, other])

    sent_in_order = Attempt.objects.filter(delivery_id__in=[probe, other]).order_by("pk")
    assert list(sent_in_order.values_list("delivery_id", flat=True)) == [other, probe]


@pytest.mark.parametrize(
    ("retry_after", "rest_seconds"),
    [(None, 5), ("120", 120), ("3600", 300)],  # none: the first rest; longer: capped at 5 min
)
def test_a_429_rests_the_endpoint_for_its_retry_after(clock, team, receiver, retry_after, rest_seconds):
    headers = {"Retry-After": retry_after} if retry_after else {}
    receiver.expect_request("/busy").respond_with_data("slow down", status=429, headers=headers)
    busy = services.endpoint_create(team=team, url=receiver.url_for("/busy"))
    for _ in range(2):
        open_escalation(team)
    first, second = deliveries_of(busy)

    services.deliveries_attempt(delivery_ids=[first.pk])
    services.deliveries_attempt(delivery_ids=[second.pk])

    busy.refresh_from_db()
    assert (busy.rest_seconds, busy.resting_until) == (rest_seconds, NOW + dt.timedelta(seconds=rest_seconds))
    assert len(receiver.log) == 1  # the second waits for the rest instead of asking again
    second.refresh_from_db()
    assert (second.attempt_count, second.next_attempt_at) == (0, busy.resting_until)
