"""Reminders: past a target, remind the claimer or the team, at most once per interval."""

from unittest import mock

import pytest
import time_machine
from django.core import mail

from escalations import services, timers
from escalations.models import Event, EventType, UrgencyTarget
from escalations.tasks import send_event_emails
from supervisors.models import Membership
from tests.escalations.conftest import OPENED, at


@pytest.fixture(autouse=True)
def members(ana, bob, olga):
    """The team the reminders go to."""


def reminders(escalation):
    return list(
        Event.objects.filter(escalation=escalation, type=EventType.REMINDER).values_list("payload", flat=True)
    )


def test_no_reminder_before_the_response_target(critical, sweep):
    sweep(14.9)

    assert reminders(critical) == []
    assert mail.outbox == []


def test_an_unclaimed_escalation_past_its_target_reminds_the_team_by_event_and_email(critical, sweep):
    sweep(15)

    (reminder,) = reminders(critical)
    assert reminder["target"] == "response"
    assert reminder["recipients"] == ["ana", "bob", "olga"]
    assert reminder["actor"] == {"user": None, "agent": None}
    (email,) = mail.outbox
    assert sorted(email.to) == ["ana@example.com", "bob@example.com", "olga@example.com"]
    assert email.subject == f"Reminder: escalation #{critical.pk} is unclaimed past its response target"
    assert f"http://127.0.0.1:8000/console/escalations/{critical.pk}/" in email.body
    assert "The response target was due at 2026-11-25 09:15 UTC." in email.body


def test_reminders_come_at_most_once_per_interval(critical, sweep):
    for minutes in [15, 16, 20, 29.9, 30, 30, 44, 45]:
        sweep(minutes)

    assert len(reminders(critical)) == 3  # at 15, 30 and 45
    assert len(mail.outbox) == 3
    critical.refresh_from_db()
    assert critical.reminded_at == at(45)
    assert critical.next_reminder_at == at(60)


def test_the_teams_own_interval_applies(team, conversation, ana, sweep):
    UrgencyTarget.objects.create(
        team=team,
        urgency="high",
        response_minutes=10,
        resolution_minutes=60,
        claim_minutes=15,
        reminder_minutes=5,
    )
    with time_machine.travel(OPENED, tick=False):
        services.open_escalation(
            conversation=conversation, origin="tool_call", reason="x", severity="critical"
        )

    for minutes in [10, 12, 15, 19, 20]:
        sweep(minutes)

    assert Event.objects.filter(type=EventType.REMINDER).count() == 3  # at 10, 15 and 20


def test_a_claimed_escalation_reminds_only_its_claimer_after_the_resolution_target(
    long_claims, critical, ana, sweep
):
    with time_machine.travel(at(5), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)

    sweep(30)
    assert reminders(critical) == []
    sweep(60)

    (reminder,) = reminders(critical)
    assert (reminder["target"], reminder["recipients"]) == ("resolution", ["ana"])
    (email,) = mail.outbox
    assert email.to == ["ana@example.com"]
    assert "claimed and unanswered past its resolution target" in email.subject


def test_claiming_and_releasing_does_not_bring_the_next_reminder_forward(critical, ana, sweep):
    sweep(15)
    with time_machine.travel(at(16), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)
    with time_machine.travel(at(17), tick=False):
        services.release(escalation_id=critical.pk, user=ana)

    sweep(18)
    assert len(reminders(critical)) == 1
    sweep(30)
    assert len(reminders(critical)) == 2


def test_an_answered_escalation_is_not_reminded(critical, ana, sweep):
    with time_machine.travel(at(20), tick=False):
        services.respond(escalation_id=critical.pk, user=ana, guidance="Refund it.")

    sweep(40)

    assert reminders(critical) == []
    critical.refresh_from_db()
    assert critical.next_reminder_at is None


def test_users_without_an_email_address_are_left_out(critical, bob, olga, sweep):
    type(bob).objects.filter(pk__in=[bob.pk, olga.pk]).update(email="")

    sweep(15)

    (email,) = mail.outbox
    assert email.to == ["ana@example.com"]


def test_a_broker_outage_loses_the_email_but_not_the_reminder(
    critical, django_capture_on_commit_callbacks, caplog
):
    with (
        time_machine.travel(at(15), tick=False),
        mock.patch.object(send_event_emails, "delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        timers.sweep()

    assert len(reminders(critical)) == 1
    assert "Broker unavailable; no email for events" in caplog.text


def test_team_members_off_duty_are_not_reminded(critical, bob, sweep):
    Membership.objects.filter(user=bob).update(on_duty=False)

    sweep(15)

    (reminder,) = reminders(critical)
    assert reminder["recipients"] == ["ana", "olga"]
