"""Breach: a target that passes is recorded once, as an escalation.sla_breached event."""

import datetime as dt
from unittest import mock

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations import services, timers
from escalations.models import Escalation, Event, EventType
from escalations.tasks import sweep_timers
from tests import factories
from tests.escalations.conftest import OPENED, at
from webhooks import services as webhook_services
from webhooks.models import Delivery

RESPONSE_DUE = OPENED + dt.timedelta(minutes=15)
RESOLUTION_DUE = OPENED + dt.timedelta(minutes=60)


def breaches(escalation):
    return list(
        Event.objects.filter(escalation=escalation, type=EventType.SLA_BREACHED).values_list(
            "payload__target", flat=True
        )
    )


def sweep_at(moment: dt.datetime, **options):
    with time_machine.travel(moment, tick=False):
        return timers.sweep(**options)


def test_nothing_is_breached_before_the_response_target(critical):
    sweep_at(RESPONSE_DUE - dt.timedelta(seconds=1))

    critical.refresh_from_db()
    assert critical.response_breached_at is None
    assert breaches(critical) == []


def test_an_unclaimed_escalation_past_its_response_target_is_breached_once(critical):
    acted = sweep_at(at(16))
    again = sweep_at(at(17))

    critical.refresh_from_db()
    assert critical.response_breached_at == at(16)
    assert critical.resolution_breached_at is None
    assert breaches(critical) == ["response"]
    assert acted["response_breach"] == 1
    assert again["response_breach"] == 0
    event = Event.objects.get(escalation=critical, type=EventType.SLA_BREACHED)
    assert event.payload["due_at"] == RESPONSE_DUE.isoformat()
    assert event.payload["actor"] == {"user": None, "agent": None}
    assert event.payload["escalation"]["response_breached_at"] == at(16).isoformat()
    audit = critical.history.latest("history_id")
    assert (audit.history_user, audit.history_change_reason) == (
        None,
        "Timer: response target passed (due 09:15 UTC)",
    )


def test_a_claim_in_time_meets_the_response_target_and_the_resolution_target_still_runs(
    long_claims, critical, ana
):
    with time_machine.travel(at(5), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)

    sweep_at(at(30))
    assert breaches(critical) == []
    sweep_at(at(61))

    critical.refresh_from_db()
    assert critical.response_breached_at is None
    assert critical.resolution_breached_at == at(61)
    assert breaches(critical) == ["resolution"]


def test_an_escalation_left_open_breaches_both_targets_in_turn(critical):
    sweep_at(at(20))
    sweep_at(at(60))
    sweep_at(at(90))

    assert breaches(critical) == ["response", "resolution"]


def test_a_sweep_after_both_due_times_records_both_in_one_go(critical):
    sweep_at(at(120))

    assert breaches(critical) == ["response", "resolution"]


def test_an_answered_escalation_is_never_breached(critical, ana):
    with time_machine.travel(at(10), tick=False):
        services.respond(escalation_id=critical.pk, user=ana, guidance="Refund it.")

    sweep_at(at(500))

    assert breaches(critical) == []


def test_mark_breached_twice_records_once(critical):
    with time_machine.travel(at(70), tick=False):
        first = services.mark_breached(escalation_ids=[critical.pk], target="resolution")
        second = services.mark_breached(escalation_ids=[critical.pk], target="resolution")

    assert (first, second) == (1, 0)
    assert breaches(critical) == ["resolution"]


def test_a_breach_reaches_webhooks_like_every_event(team, critical):
    endpoint = webhook_services.endpoint_create(
        team=team, url="https://93.184.216.34/hook", event_types=[EventType.SLA_BREACHED]
    )

    with mock.patch("webhooks.tasks.deliver.delay"):
        sweep_at(at(16))

    (delivery,) = Delivery.objects.filter(endpoint=endpoint)
    assert delivery.event.type == EventType.SLA_BREACHED


def test_the_sweep_reads_due_rows_in_batches_of_one_query_each(agent):
    with time_machine.travel(OPENED, tick=False):
        due = [
            factories.open_escalation(factories.make_conversation(agent), severity="critical")
            for _ in range(5)
        ]
    with time_machine.travel(at(30), tick=False):
        later = factories.open_escalation(factories.make_conversation(agent), severity="critical")
    reads = []

    def counted_due_batch(*args, **kwargs):
        with CaptureQueriesContext(connection) as queries:
            batch = real_due_batch(*args, **kwargs)
        reads.append((len(batch), len(queries.captured_queries)))
        return batch

    real_due_batch = timers.due_batch
    with (
        mock.patch.object(timers, "due_batch", counted_due_batch),
        mock.patch.object(timers, "TIMERS", [t for t in timers.TIMERS if t.name == "response_breach"]),
    ):
        acted = sweep_at(at(20), batch_size=2)

    assert acted == {"response_breach": 5}
    assert reads == [(2, 1), (2, 1), (1, 1)]  # (rows, queries) per read
    assert Escalation.objects.filter(response_breached_at__isnull=False).count() == len(due)
    later.refresh_from_db()
    assert later.response_breached_at is None


def test_a_sweep_with_nothing_due_costs_one_query_per_timer(critical):
    with CaptureQueriesContext(connection) as queries:
        acted = sweep_at(at(1))

    assert set(acted.values()) == {0}
    assert len(queries.captured_queries) == len(timers.TIMERS)


def test_the_beat_task_runs_the_sweep(critical):
    with time_machine.travel(at(16), tick=False):
        sweep_timers.apply()

    assert breaches(critical) == ["response"]


def test_the_console_timeline_names_the_timer(client, critical, ana):
    sweep_at(at(16))
    client.force_login(ana)

    page = client.get(f"/console/escalations/{critical.pk}/").content.decode()

    entry = next(item for item in page.split("<li") if "Timer: response target passed" in item)
    assert "<strong>timer</strong>" in entry
