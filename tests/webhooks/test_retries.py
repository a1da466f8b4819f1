"""The retry policy against a real receiver, with a frozen clock."""

import datetime as dt
import socket
import threading

import pytest
from django.utils import timezone
from urllib3.util import Timeout
from werkzeug import Response

from tests.waiting import TIMEOUT as WAIT_SECONDS
from tests.waiting import wait_until
from tests.webhooks.conftest import NOW, deliveries_of, open_escalation
from webhooks import policy, sender, services
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint


@pytest.fixture
def delivery(clock, hook_endpoint, team):
    open_escalation(team)
    return deliveries_of(hook_endpoint)[-1]


def attempt(delivery) -> Delivery:
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def wait_of(delivery) -> dt.timedelta:
    return delivery.next_attempt_at - timezone.now()


@pytest.mark.parametrize("code", [500, 502, 503, 429])
def test_5xx_and_429_are_retried_after_five_seconds_plus_jitter(receiver, delivery, code):
    receiver.expect_request("/hook").respond_with_data("no", status=code)

    attempt(delivery)

    assert delivery.status == DeliveryStatus.RETRYING
    assert dt.timedelta(seconds=5) <= wait_of(delivery) <= dt.timedelta(seconds=5.5)
    (row,) = Attempt.objects.filter(delivery=delivery)
    assert (row.number, row.status_code, row.outcome, row.response_excerpt) == (1, code, "retry", "no")


def test_the_waits_follow_the_standard_webhooks_schedule(receiver, delivery, clock):
    receiver.expect_request("/hook").respond_with_data("no", status=500)
    expected = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    for seconds in expected:
        attempt(delivery)
        assert dt.timedelta(seconds=seconds) <= wait_of(delivery) <= dt.timedelta(seconds=seconds * 1.1)
        clock.move_to(delivery.next_attempt_at)

    attempt(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == policy.MAX_ATTEMPTS == 10
    assert delivery.next_attempt_at is None
    assert "gave up after 10 attempts" in delivery.last_error


def test_retry_after_in_seconds_is_honoured(receiver, delivery):
    receiver.expect_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )

    attempt(delivery)

    assert wait_of(delivery) == dt.timedelta(seconds=120)


def test_retry_after_as_an_http_date_is_honoured(receiver, delivery):
    receiver.expect_request("/hook").respond_with_data(
        "down", status=503, headers={"Retry-After": "Mon, 02 Mar 2026 09:10:00 GMT"}
    )

    attempt(delivery)

    assert wait_of(delivery) == dt.timedelta(minutes=10)


def test_a_timeout_is_retried(receiver, delivery, monkeypatch):
    monkeypatch.setattr(sender, "TIMEOUT", Timeout(connect=1.0, read=1.0, total=0.2))
    gave_up = threading.Event()

    def answering_once_the_sender_gave_up(request):
        gave_up.wait(WAIT_SECONDS)
        return Response("late")

    receiver.expect_request("/hook").respond_with_handler(answering_once_the_sender_gave_up)

    attempt(delivery)
    gave_up.set()

    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_error == "Timed out."
    assert delivery.last_status_code is None
    # The handler's log entry, once it answered; else it lands in the next test's receiver.
    wait_until(lambda: len(receiver.log) == 1, message="the late receiver answering")


def test_a_refused_connection_is_retried(delivery, hook_endpoint):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    # Nothing listens on that port any more.
    Endpoint.objects.filter(pk=hook_endpoint.pk).update(url=f"http://127.0.0.1:{closed_port}/hook")

    attempt(delivery)

    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_error.startswith("Connection error")


def test_a_redirect_fails_and_is_not_followed(receiver, delivery):
    receiver.expect_request("/hook").respond_with_data(
        "", status=302, headers={"Location": receiver.url_for("/elsewhere")}
    )

    attempt(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert "redirects are not followed" in delivery.last_error
    assert [request.path for request, _response in receiver.log] == ["/hook"]


def test_a_404_fails_without_retry(receiver, delivery, hook_endpoint):
    receiver.expect_request("/hook").respond_with_data("who?", status=404)

    attempt(delivery)

    assert (delivery.status, delivery.next_attempt_at, delivery.last_status_code) == ("failed", None, 404)
    hook_endpoint.refresh_from_db()
    assert hook_endpoint.active


def test_a_410_disables_the_endpoint(receiver, delivery, hook_endpoint):
    receiver.expect_request("/hook").respond_with_data("gone", status=410)

    attempt(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    hook_endpoint.refresh_from_db()
    assert not hook_endpoint.active
    assert hook_endpoint.disabled_at == NOW
    assert "410" in hook_endpoint.disabled_reason


def test_deliveries_to_a_disabled_endpoint_fail_unsent(receiver, delivery, hook_endpoint):
    services.endpoint_update(endpoint_id=hook_endpoint.pk, data={"active": False})

    attempt(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert "disabled" in delivery.last_error
    assert receiver.log == []


def test_an_attempt_in_flight_is_not_sent_twice(receiver, delivery):
    receiver.expect_request("/hook").respond_with_data("no", status=500)
    # A claim pushes next_attempt_at a lease ahead: a second task for the same row finds nothing due.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=NOW + services.SEND_LEASE)

    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.log == []


def test_the_attempt_cap_stops_retries(receiver, delivery):
    receiver.expect_request("/hook").respond_with_data("no", status=500)
    Delivery.objects.filter(pk=delivery.pk).update(attempt_count=policy.MAX_ATTEMPTS - 1)

    attempt(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None


def test_an_endpoint_failing_every_attempt_for_five_days_is_disabled(receiver, hook_endpoint, team, clock):
    receiver.expect_request("/hook").respond_with_data("no", status=500)
    open_escalation(team)
    attempt(deliveries_of(hook_endpoint)[-1])

    clock.shift(dt.timedelta(days=4, hours=23))
    open_escalation(team)
    attempt(deliveries_of(hook_endpoint)[-1])
    hook_endpoint.refresh_from_db()
    assert hook_endpoint.active

    clock.shift(dt.timedelta(hours=1))
    open_escalation(team)
    attempt(deliveries_of(hook_endpoint)[-1])
    hook_endpoint.refresh_from_db()
    assert not hook_endpoint.active
    assert "Every attempt failed for 5 days" in hook_endpoint.disabled_reason


def test_one_success_restarts_the_five_days(receiver, hook_endpoint, team, clock):
    receiver.expect_ordered_request("/hook").respond_with_data("no", status=500)
    receiver.expect_ordered_request("/hook").respond_with_data("ok")
    receiver.expect_ordered_request("/hook").respond_with_data("no", status=500)
    for shift in (dt.timedelta(0), dt.timedelta(days=3), dt.timedelta(days=3)):
        clock.shift(shift)
        open_escalation(team)
        attempt(deliveries_of(hook_endpoint)[-1])

    hook_endpoint.refresh_from_db()
    assert hook_endpoint.active


def test_replay_failed_since_requeues_only_failed_deliveries_since_then(receiver, hook_endpoint, team, clock):
    receiver.expect_request("/hook").respond_with_data("who?", status=404)
    for _ in range(3):
        open_escalation(team)
        attempt(deliveries_of(hook_endpoint)[-1])
        clock.shift(dt.timedelta(hours=1))
    first, second, third = deliveries_of(hook_endpoint)

    count = services.deliveries_replay_failed(
        endpoint_id=hook_endpoint.pk, since=NOW + dt.timedelta(minutes=30)
    )

    assert count == 2
    statuses = {d.pk: d.status for d in deliveries_of(hook_endpoint)}
    assert statuses == {first.pk: "failed", second.pk: "pending", third.pk: "pending"}
