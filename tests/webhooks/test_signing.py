"""Every request the receiver gets verifies with the standardwebhooks library."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks import WebhookVerificationError

from escalations import services as escalation_services
from tests.webhooks.conftest import deliveries_of, verify
from webhooks import services


def attempt(delivery):
    return services.delivery_attempt(delivery_id=delivery.pk)


def test_a_delivery_verifies_with_the_endpoint_secret_and_carries_the_event(
    receiver, hook_endpoint, escalation, django_capture_on_commit_callbacks
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    with django_capture_on_commit_callbacks(execute=False):
        escalation_services.claim(escalation_id=escalation.pk, user=escalation_claimer(escalation))
    delivery = deliveries_of(hook_endpoint)[-1]  # the escalation's creation came first

    attempt(delivery)

    ((request, _response),) = receiver.log
    body = verify(hook_endpoint.secret, request)
    assert body["type"] == "escalation.claimed"
    assert body["data"]["escalation"]["id"] == escalation.pk
    assert body["data"]["escalation"]["status"] == "claimed"
    assert request.headers["webhook-id"] == delivery.webhook_id
    assert request.headers["Content-Type"] == "application/json"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("succeeded", 1, 200)


def escalation_claimer(escalation):
    from supervisors.models import Role
    from tests import factories

    user = factories.make_user()
    factories.add_member(user, escalation.team, Role.SUPERVISOR)
    return user


def test_a_wrong_secret_does_not_verify(receiver, hook_endpoint, team):
    receiver.expect_request("/hook").respond_with_data("ok")
    delivery = make_delivery(hook_endpoint, team)

    attempt(delivery)

    ((request, _response),) = receiver.log
    with pytest.raises(WebhookVerificationError):
        verify(services.generate_secret(), request)


def make_delivery(endpoint, team):
    from tests.webhooks.conftest import open_escalation

    open_escalation(team)
    return deliveries_of(endpoint)[-1]


def test_the_webhook_id_is_stable_across_retries_and_redelivery_and_the_timestamp_is_fresh(
    receiver, hook_endpoint, team
):
    receiver.expect_ordered_request("/hook").respond_with_data("busy", status=503)
    receiver.expect_ordered_request("/hook").respond_with_data("ok")
    receiver.expect_ordered_request("/hook").respond_with_data("ok again")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        delivery = make_delivery(hook_endpoint, team)
        attempt(delivery)
    with time_machine.travel(start + dt.timedelta(seconds=6), tick=False):
        attempt(delivery)
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        services.delivery_redeliver(delivery_id=delivery.pk)
        attempt(delivery)

        requests = [request for request, _response in receiver.log]
        assert len(requests) == 3
        assert {request.headers["webhook-id"] for request in requests} == {delivery.webhook_id}
        timestamps = [int(request.headers["webhook-timestamp"]) for request in requests]
        assert timestamps == [
            int(start.timestamp()),
            int(start.timestamp()) + 6,
            int(start.timestamp()) + 3600,
        ]
        verify(hook_endpoint.secret, requests[-1])


def test_during_a_rotation_both_secrets_sign_and_each_verifies(receiver, hook_endpoint, team, settings):
    settings.WEBHOOKS_ROTATION_GRACE_HOURS = 24
    receiver.expect_request("/hook").respond_with_data("ok")
    old_secret = hook_endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint_id=hook_endpoint.pk)

    attempt(make_delivery(hook_endpoint, team))

    ((request, _response),) = receiver.log
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert rotated.secret != old_secret
    verify(old_secret, request)
    verify(rotated.secret, request)


def test_after_the_grace_period_only_the_new_secret_signs(receiver, hook_endpoint, team, settings):
    settings.WEBHOOKS_ROTATION_GRACE_HOURS = 1
    receiver.expect_request("/hook").respond_with_data("ok")
    old_secret = hook_endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint_id=hook_endpoint.pk)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        attempt(make_delivery(hook_endpoint, team))

        ((request, _response),) = receiver.log
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        verify(rotated.secret, request)
        with pytest.raises(WebhookVerificationError):
            verify(old_secret, request)


def test_secrets_are_standard_webhooks_secrets():
    secret = services.generate_secret()
    import base64

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert secret != services.generate_secret()


def test_a_test_event_is_signed_and_not_recorded(receiver, hook_endpoint):
    receiver.expect_request("/hook").respond_with_data("ok")

    result = services.endpoint_send_test(endpoint_id=hook_endpoint.pk)

    assert result.status_code == 200
    ((request, _response),) = receiver.log
    assert verify(hook_endpoint.secret, request)["type"] == "webhook.test"
    assert deliveries_of(hook_endpoint) == []
