"""Emails per the team's notification settings: new critical, assigned, reminder, breach, escalated."""

import pytest
import time_machine
from django.core import mail

from escalations import timers
from escalations.models import Event, EventType, LadderLevel, TeamPolicy
from supervisors.models import Membership
from tests import factories
from tests.escalations.conftest import at


@pytest.fixture(autouse=True)
def members(ana, bob, olga):
    """The team's supervisors: ana, bob and its owner olga."""


@pytest.fixture
def policy(team):
    return TeamPolicy.objects.create(team=team)


def sweep(committed, minutes):
    with time_machine.travel(at(minutes), tick=False), committed():
        timers.sweep()


def recipients():
    return [sorted(email.to) for email in mail.outbox]


TEAM = ["ana@example.com", "bob@example.com", "olga@example.com"]


def test_a_new_critical_escalation_emails_the_team_on_duty_at_once(conversation, bob, committed):
    Membership.objects.filter(user=bob).update(on_duty=False)

    with committed():
        escalation = factories.open_escalation(conversation, severity="critical")

    (email,) = mail.outbox
    assert sorted(email.to) == ["ana@example.com", "olga@example.com"]
    assert email.subject == f"New critical escalation #{escalation.pk}"
    assert "Customer wants a refund of $150" in email.body
    assert f"http://127.0.0.1:8000/console/escalations/{escalation.pk}/" in email.body


def test_a_new_warning_emails_nobody(conversation, committed):
    with committed():
        factories.open_escalation(conversation, severity="warning")

    assert mail.outbox == []


def test_a_critical_escalation_assigned_to_someone_is_one_email_to_all(
    team, policy, bob, conversation, committed
):
    policy.assignment, policy.assignee = "user", bob
    policy.save()

    with committed():
        escalation = factories.open_escalation(conversation, severity="critical")

    (email,) = mail.outbox
    assert sorted(email.to) == TEAM
    assert email.subject == f"New critical escalation #{escalation.pk}, assigned to bob"


def test_the_team_can_turn_off_new_critical_and_assigned_emails(policy, bob, conversation, committed):
    policy.assignment, policy.assignee = "user", bob
    policy.email_new_critical = policy.email_assigned = False
    policy.save()

    with committed():
        factories.open_escalation(conversation, severity="critical")

    assert mail.outbox == []


def test_with_only_assigned_emails_on_a_critical_one_goes_to_its_assignee(
    policy, bob, conversation, committed
):
    policy.assignment, policy.assignee, policy.email_new_critical = "user", bob, False
    policy.save()

    with committed():
        factories.open_escalation(conversation, severity="critical")

    assert recipients() == [["bob@example.com"]]


def test_reminder_emails_can_be_turned_off_the_reminder_stays(policy, critical, committed):
    policy.email_reminders = False
    policy.save()

    sweep(committed, 15)

    assert Event.objects.filter(escalation=critical, type=EventType.REMINDER).count() == 1
    assert mail.outbox == []


def test_breach_emails_are_off_by_default_and_go_to_the_team_when_on(team, conversation, committed):
    with time_machine.travel(at(0), tick=False):
        quiet = factories.open_escalation(conversation, severity="warning", urgency="high")
    TeamPolicy.objects.create(team=team, email_breaches=False, email_reminders=False)
    sweep(committed, 15)
    assert mail.outbox == []
    TeamPolicy.objects.filter(team=team).update(email_breaches=True)

    sweep(committed, 60)  # the resolution target

    (email,) = mail.outbox
    assert sorted(email.to) == TEAM
    assert email.subject == f"Target missed: escalation #{quiet.pk} passed its resolution target"
    assert "The resolution target was due at 2026-11-25 10:00 UTC." in email.body


def test_a_claimed_escalations_breach_emails_its_claimer(team, conversation, ana, long_claims, committed):
    from escalations import services

    TeamPolicy.objects.create(team=team, email_breaches=True, email_reminders=False)
    with time_machine.travel(at(0), tick=False):
        escalation = factories.open_escalation(conversation, severity="warning", urgency="high")
    with time_machine.travel(at(1), tick=False):
        services.claim(escalation_id=escalation.pk, user=ana)

    sweep(committed, 60)

    assert recipients() == [["ana@example.com"]]


def test_ladder_emails_can_be_turned_off_the_climb_goes_on(team, policy, conversation, committed):
    LadderLevel.objects.create(team=team, number=1, after_minutes=5)
    policy.email_escalated = policy.email_reminders = False
    policy.save()
    with time_machine.travel(at(0), tick=False):
        escalation = factories.open_escalation(conversation, severity="warning", urgency="high")

    sweep(committed, 5)

    assert Event.objects.filter(escalation=escalation, type=EventType.ESCALATED).count() == 1
    assert mail.outbox == []
