"""Timeout policy: an escalation unanswered at its resolution target keeps waiting, is dismissed,
or is answered with the agent's default guidance, and the agent hears it like a person's answer."""

import pytest
import time_machine
from django.core.exceptions import ValidationError

from agents.models import ConversationStatus
from escalations import services, timers
from escalations.models import Event, EventType, Status
from tests import factories
from tests.api.conftest import agent_client
from tests.escalations.conftest import OPENED, at

GUIDANCE = "Tell the customer a specialist will email them within one business day."


def sweep(minutes: float):
    with time_machine.travel(at(minutes), tick=False):
        return timers.sweep()


def open_critical(conversation, **extra):
    with time_machine.travel(OPENED, tick=False):
        return factories.open_escalation(conversation, severity="critical", **extra)


@pytest.fixture
def answering_agent(agent):
    agent.timeout_policy = "answer"
    agent.timeout_guidance = GUIDANCE
    agent.save()
    return agent


def test_by_default_an_escalation_keeps_waiting_past_its_resolution_target(critical):
    sweep(120)

    critical.refresh_from_db()
    assert (critical.timeout_policy, critical.timeout_at) == ("keep_waiting", None)
    assert critical.status == Status.OPEN
    assert critical.resolution_breached_at is not None


def test_the_dismiss_policy_closes_it_automatically_at_the_resolution_target(agent, conversation):
    agent.timeout_policy = "dismiss"
    agent.save()
    escalation = open_critical(conversation)
    assert escalation.timeout_at == at(60)

    assert sweep(59.9)["timeout_open"] == 0
    assert sweep(60)["timeout_open"] == 1
    assert sweep(61)["timeout_open"] == 0

    escalation.refresh_from_db()
    assert (escalation.status, escalation.closed_automatically, escalation.closed_at) == (
        Status.DISMISSED,
        True,
        at(60),
    )
    assert (
        escalation.closing_note
        == "No answer by the resolution target (10:00 UTC): dismissed by the timeout policy."
    )
    escalation.conversation.refresh_from_db()
    assert escalation.conversation.status == ConversationStatus.ACTIVE
    event = Event.objects.filter(escalation=escalation).last()
    assert (event.type, event.payload["automatic"], event.payload["reason"]) == (
        EventType.DISMISSED,
        True,
        "timeout",
    )
    # The breach is recorded first, and no reminder follows the close.
    types = list(Event.objects.filter(escalation=escalation).values_list("type", flat=True))
    assert types[-2:] == [EventType.SLA_BREACHED, EventType.DISMISSED]
    assert EventType.REMINDER not in types[types.index(EventType.DISMISSED) :]


def test_the_answer_policy_resumes_the_agent_with_its_default_guidance(
    long_claims, answering_agent, conversation, ana
):
    escalation = open_critical(conversation)
    with time_machine.travel(at(5), tick=False):
        services.claim(escalation_id=escalation.pk, user=ana)  # claimed, but never answered

    assert sweep(60)["timeout_claimed"] == 1

    escalation.refresh_from_db()
    assert (escalation.status, escalation.guidance, escalation.responder) == (Status.RESOLVED, GUIDANCE, None)
    assert escalation.claim_expires_at is None
    event = Event.objects.filter(escalation=escalation).last()
    assert (event.type, event.payload["automatic"]) == (EventType.RESOLVED, True)
    with pytest.raises(
        services.TransitionRefused,
        match="resolved automatically \\(no answer in time\\) at 2026-11-25 10:00 UTC",
    ):
        services.respond(escalation_id=escalation.pk, user=ana, guidance="too late")


def test_the_agent_reads_the_automatic_answer_like_a_persons(answering_agent, conversation):
    from agents.keys import agent_key_create

    escalation = open_critical(conversation)
    sweep(61)
    _, key = agent_key_create(agent=answering_agent, name="test")

    body = agent_client(key).get(f"/api/v1/escalations/{escalation.pk}/").json()

    assert body["resolution"] == {
        "outcome": "resumed",
        "guidance": GUIDANCE,
        "note": "",
        "responder": None,
        "at": at(61).isoformat(),
        "automatic": True,
    }


def test_a_persons_answer_in_time_leaves_nothing_to_time_out(answering_agent, conversation, ana):
    escalation = open_critical(conversation)
    with time_machine.travel(at(30), tick=False):
        services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund it.")

    sweep(90)

    escalation.refresh_from_db()
    assert (escalation.guidance, escalation.closed_automatically, escalation.timeout_at) == (
        "Refund it.",
        False,
        None,
    )


def test_the_call_may_choose_its_own_policy(answering_agent, conversation):
    escalation = open_critical(conversation, timeout_policy="keep_waiting")

    sweep(90)

    assert Event.objects.filter(escalation=escalation, type=EventType.RESOLVED).count() == 0


def test_an_answer_policy_needs_the_agents_guidance(agent, conversation):
    with pytest.raises(ValidationError) as error:
        factories.open_escalation(conversation, timeout_policy="answer")
    assert "has no default guidance" in str(error.value)

    agent.timeout_policy = "answer"
    with pytest.raises(ValidationError) as invalid:
        agent.full_clean()
    assert "timeout_guidance" in invalid.value.message_dict


def test_guidance_removed_after_opening_makes_the_answer_a_dismissal(answering_agent, conversation):
    escalation = open_critical(conversation)
    type(answering_agent).objects.filter(pk=answering_agent.pk).update(timeout_guidance="")

    sweep(60)

    escalation.refresh_from_db()
    assert (escalation.status, escalation.closed_automatically) == (Status.DISMISSED, True)
