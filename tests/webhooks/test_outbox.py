"""Delivery rows are written in the Event's transaction, for the matching endpoints of its team only."""

from unittest import mock

import pytest
from django.db import transaction

from escalations import services as escalation_services
from escalations.models import Event, EventType
from tests import factories
from tests.webhooks.conftest import open_escalation
from webhooks import outbox, services
from webhooks.models import Delivery

# A public address literal: no DNS lookup in tests (the network may be closed).
URL = "https://93.184.216.34/"


@pytest.fixture
def all_events(team):
    return services.endpoint_create(team=team, url=URL + "all")


def test_a_committed_transition_creates_deliveries_and_enqueues_them_on_commit(
    team, all_events, django_capture_on_commit_callbacks
):
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            escalation = open_escalation(team)
            # Written in the transaction, enqueued only after it commits.
            (delivery,) = Delivery.objects.all()
            assert not delay.called

    assert delivery.event == Event.objects.get(escalation=escalation)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at is not None
    delay.assert_called_once_with([delivery.pk])


def test_a_rolled_back_transition_creates_no_delivery(team, all_events, django_capture_on_commit_callbacks):
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            with transaction.atomic():
                open_escalation(team)
                raise RuntimeError("something later in the request fails")

    assert not Delivery.objects.exists()
    assert not Event.objects.exists()
    assert not delay.called


def test_only_active_endpoints_of_the_team_wanting_the_type_get_a_delivery(team):
    wants_all = services.endpoint_create(team=team, url=URL + "all")
    wants_claims = services.endpoint_create(team=team, url=URL + "claims", event_types=[EventType.CLAIMED])
    services.endpoint_create(team=team, url=URL + "off", active=False)
    services.endpoint_create(team=factories.make_team("Legal"), url=URL + "legal")

    escalation = open_escalation(team)
    supervisor = factories.make_user()
    factories.add_member(supervisor, team)
    escalation_services.claim(escalation_id=escalation.pk, user=supervisor)

    got = sorted((d.endpoint_id, d.event.type) for d in Delivery.objects.select_related("event"))
    assert got == sorted(
        [
            (wants_all.pk, EventType.CREATED),
            (wants_all.pk, EventType.CLAIMED),
            (wants_claims.pk, EventType.CLAIMED),
        ]
    )


def test_a_broker_outage_does_not_fail_the_change_and_the_sweep_finds_the_delivery(
    team, all_events, django_capture_on_commit_callbacks
):
    with mock.patch("webhooks.tasks.deliver.delay", side_effect=ConnectionError("redis is down")):
        with django_capture_on_commit_callbacks(execute=True):
            open_escalation(team)

    (delivery,) = Delivery.objects.all()
    assert outbox.deliveries_claim_due() == [delivery.pk]


def test_the_sweep_task_enqueues_what_is_due(team, all_events):
    from webhooks.tasks import sweep_due_deliveries

    open_escalation(team)
    # Its enqueue on commit never ran (this test's transaction does not commit): as if lost.
    Delivery.objects.update(enqueued_until=None)
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        assert sweep_due_deliveries.apply().get() == 1

    delay.assert_called_once_with([Delivery.objects.get().pk])


def test_unknown_event_types_are_refused(team):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(team=team, url=URL, event_types=["escalation.exploded"])

    assert "escalation.exploded" in str(refused.value.message_dict["event_types"])


def test_the_deliver_task_survives_a_lost_worker_and_the_sweep_runs_every_few_seconds(settings):
    from webhooks.tasks import deliver

    assert deliver.acks_late and deliver.reject_on_worker_lost
    assert deliver.soft_time_limit < services.SEND_LEASE.total_seconds()
    sweep = settings.CELERY_BEAT_SCHEDULE["sweep-due-webhook-deliveries"]
    assert sweep["task"] == "webhooks.tasks.sweep_due_deliveries"
    assert sweep["schedule"] <= 10


def test_the_deliver_task_sends_through_the_service(team, all_events):
    from webhooks.tasks import deliver

    open_escalation(team)
    delivery = Delivery.objects.get()
    with mock.patch("webhooks.services.deliveries_attempt") as attempt:
        deliver.apply(args=[[delivery.pk]])

    attempt.assert_called_once_with(delivery_ids=[delivery.pk])
