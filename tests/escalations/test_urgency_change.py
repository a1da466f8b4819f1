"""Raising or lowering an escalation's urgency moves its due times, with an event and an audit row."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from agents.models import Conversation
from escalations import services, timers
from escalations.choices import TimeoutPolicy
from escalations.models import BusinessHours, Escalation, EventType, LadderLevel, WorkingPeriod
from escalations.services import NotAllowed, TransitionRefused
from tests import factories
from tests.escalations.conftest import OPENED, at


@pytest.fixture
def low(conversation):
    """Info severity: low urgency, so with the built-in targets 240 minutes to claim, 1,440 to answer."""
    with time_machine.travel(OPENED, tick=False):
        return factories.open_escalation(conversation, severity="info")


def change(escalation, user, urgency, minutes, reason=""):
    with time_machine.travel(at(minutes), tick=False):
        services.change_urgency(escalation_id=escalation.pk, user=user, urgency=urgency, reason=reason)
    return Escalation.objects.get(pk=escalation.pk)


def sweep(minutes):
    with time_machine.travel(at(minutes), tick=False):
        return timers.sweep()


def test_raising_the_urgency_counts_the_new_targets_from_the_opening(low, ana):
    assert low.response_due_at == at(240)

    raised = change(low, ana, "high", 5, reason="VIP customer")

    assert raised.urgency == "high"
    assert (raised.response_due_at, raised.resolution_due_at) == (at(15), at(60))
    assert raised.queue_due_at == at(15)  # the queue's "due soonest" order follows
    assert raised.next_reminder_at == at(15)
    event = raised.events.last()
    assert event.type == EventType.UPDATED
    assert event.payload["changes"] == {
        "urgency": ["low", "high"],
        "response_due_at": [at(240).isoformat(), at(15).isoformat()],
        "resolution_due_at": [at(1440).isoformat(), at(60).isoformat()],
        "next_reminder_at": [at(240).isoformat(), at(15).isoformat()],
    }
    assert event.payload["reason"] == "VIP customer"
    assert event.payload["escalation"]["response_due_at"] == at(15).isoformat()
    audit = raised.history.latest("history_id")
    assert (audit.history_user, audit.history_change_reason) == (ana, "Urgency low → high: VIP customer")


def test_the_timers_follow_a_raised_urgency(low, ana):
    change(low, ana, "high", 5)

    acted = sweep(16)

    assert acted["response_breach"] == 1
    assert acted["reminder_open"] == 1
    assert Escalation.objects.get(pk=low.pk).response_breached_at == at(16)


def test_lowering_the_urgency_puts_the_targets_back_and_nothing_is_breached_early(critical, ana):
    lowered = change(critical, ana, "low", 5)

    assert (lowered.response_due_at, lowered.resolution_due_at) == (at(240), at(1440))
    assert set(sweep(16).values()) == {0}


def test_a_raise_past_the_new_target_is_breached_by_the_next_sweep(low, ana):
    raised = change(low, ana, "high", 30)

    assert raised.response_due_at == at(15)  # already past: the next sweep records it
    assert sweep(30)["response_breach"] == 1


def test_a_claimed_escalation_is_reminded_against_its_new_resolution_target(low, ana):
    with time_machine.travel(at(1), tick=False):
        services.claim(escalation_id=low.pk, user=ana)

    raised = change(low, ana, "high", 5)

    assert raised.next_reminder_at == at(60)
    assert raised.queue_due_at == at(60)  # claimed: the Due column is the time to answer
    assert sweep(60)["reminder_claimed"] == 1  # the claim (low urgency: 60 minutes) runs to 61


def test_the_timeout_follows_the_resolution_target(conversation, ana):
    conversation.agent.timeout_guidance = "Proceed with the standard refund."
    conversation.agent.save()
    with time_machine.travel(OPENED, tick=False):
        escalation = factories.open_escalation(conversation, severity="info", timeout_policy="answer")

    raised = change(escalation, ana, "high", 5)

    assert raised.timeout_at == at(60)
    assert sweep(61)["timeout_open"] == 1
    assert Escalation.objects.get(pk=escalation.pk).status == "resolved"


def test_keep_waiting_stays_without_a_timeout(low, ana):
    assert low.timeout_policy == TimeoutPolicy.KEEP_WAITING

    assert change(low, ana, "high", 5).timeout_at is None


def test_business_hours_count_from_the_opening_in_working_time(team, agent, ana):
    hours = BusinessHours.objects.create(team=team, time_zone="UTC")
    for weekday in range(5):  # Monday to Friday, 09:00-17:00 UTC
        WorkingPeriod.objects.create(
            business_hours=hours, weekday=weekday, opens=dt.time(9), closes=dt.time(17)
        )
    friday_late = dt.datetime(2026, 11, 27, 16, 50, tzinfo=dt.UTC)
    with time_machine.travel(friday_late, tick=False):
        escalation = factories.open_escalation(factories.make_conversation(agent), severity="info")
    monday = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    with time_machine.travel(friday_late + dt.timedelta(minutes=2), tick=False):
        services.change_urgency(escalation_id=escalation.pk, user=ana, urgency="high")

    raised = Escalation.objects.get(pk=escalation.pk)
    # 10 working minutes on Friday, the other 5 on Monday morning.
    assert raised.response_due_at == monday + dt.timedelta(minutes=5)


def test_the_ladder_goes_on_when_the_urgency_reaches_a_further_level(team, agent, ana):
    LadderLevel.objects.create(team=team, number=1, after_minutes=5)
    LadderLevel.objects.create(team=team, number=2, after_minutes=10, min_urgency="high")
    with time_machine.travel(OPENED, tick=False):
        escalation = factories.open_escalation(factories.make_conversation(agent), severity="warning")
    assert sweep(5)["ladder"] == 1
    assert Escalation.objects.get(pk=escalation.pk).next_level_at is None  # medium stops at level 1

    raised = change(escalation, ana, "high", 8)

    assert raised.next_level_at == at(18)
    assert sweep(18)["ladder"] == 1
    assert Escalation.objects.get(pk=escalation.pk).level == 2


def test_lowering_below_the_next_level_stops_the_climb(team, agent, ana):
    LadderLevel.objects.create(team=team, number=1, after_minutes=5, min_urgency="high")
    with time_machine.travel(OPENED, tick=False):
        escalation = factories.open_escalation(factories.make_conversation(agent), severity="critical")
    assert escalation.next_level_at == at(5)

    lowered = change(escalation, ana, "medium", 2)

    assert lowered.next_level_at is None
    assert sweep(30)["ladder"] == 0


def test_a_raise_keeps_a_climb_already_scheduled(team, agent, ana):
    LadderLevel.objects.create(team=team, number=1, after_minutes=20)
    with time_machine.travel(OPENED, tick=False):
        escalation = factories.open_escalation(factories.make_conversation(agent), severity="info")

    assert change(escalation, ana, "high", 5).next_level_at == at(20)


def test_the_same_urgency_changes_nothing(critical, ana):
    events = critical.events.count()

    change(critical, ana, "high", 5)

    assert critical.events.count() == events


def test_a_closed_escalation_keeps_its_urgency(critical, ana):
    with time_machine.travel(at(2), tick=False):
        services.dismiss(escalation_id=critical.pk, user=ana, note="Noise")

    with pytest.raises(TransitionRefused, match="already dismissed by ana"):
        change(critical, ana, "low", 5)


def test_only_the_teams_supervisors_may_change_it(critical, outsider):
    with pytest.raises(NotAllowed):
        change(critical, outsider, "low", 5)


def test_an_unknown_urgency_is_a_field_error(critical, ana):
    with pytest.raises(ValidationError) as error:
        change(critical, ana, "asap", 5)

    assert "urgency" in error.value.message_dict


def test_a_later_trigger_that_raises_the_urgency_moves_the_due_times_too(low, ana):
    conversation = Conversation.objects.get(pk=low.conversation_id)
    with time_machine.travel(at(5), tick=False):
        factories.open_escalation(conversation, severity="critical", reason="Now threatening to sue")

    raised = Escalation.objects.get(pk=low.pk)
    assert (raised.urgency, raised.response_due_at) == ("high", at(15))
    changes = raised.events.last().payload["changes"]
    assert changes["urgency"] == ["low", "high"]
    assert changes["response_due_at"] == [at(240).isoformat(), at(15).isoformat()]
