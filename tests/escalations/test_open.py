"""Opening an escalation: defaults, pausing the conversation, one card per conversation."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents.models import ConversationStatus
from escalations import services
from escalations.models import Escalation, Event, EventType, Origin, Status
from tests import factories


def test_open_creates_a_card_an_event_and_an_audit_row(conversation, agent):
    result = services.open_escalation(
        conversation=conversation,
        origin=Origin.TOOL_CALL,
        reason="Customer threatens legal action",
        severity="critical",
        evidence=[{"source": "tool_call", "text": "I will sue you"}],
    )

    escalation = result.escalation
    assert result.created
    assert (escalation.status, escalation.severity, escalation.urgency) == ("open", "critical", "high")
    assert escalation.team == agent.team
    assert escalation.channel == conversation.channel
    assert escalation.evidence[0]["text"] == "I will sue you"
    assert escalation.response_due_at > escalation.created_at
    assert escalation.resolution_due_at > escalation.response_due_at
    event = Event.objects.get(escalation=escalation)
    assert (event.type, event.actor_agent, event.team_id) == (EventType.CREATED, agent, agent.team_id)
    assert event.payload["escalation"]["reason"] == "Customer threatens legal action"
    (created,) = escalation.history.all()
    assert created.history_type == "+"
    assert created.history_change_reason.startswith("Opened by agent billing-bot")


@pytest.mark.parametrize("severity, urgency", [("critical", "high"), ("warning", "medium"), ("info", "low")])
def test_urgency_defaults_from_severity(conversation, severity, urgency):
    escalation = factories.open_escalation(conversation, severity=severity)

    assert escalation.urgency == urgency


def test_rule_then_agent_defaults_fill_what_the_call_leaves_out(team):
    agent = factories.make_agent(team, default_severity="info", default_topic="billing")
    rule = factories.make_rule(agent, severity="critical", urgency="medium", area="refunds")
    conversation = factories.make_conversation(agent)

    escalation = factories.open_escalation(conversation, origin=Origin.RULE, rule=rule)

    assert (escalation.severity, escalation.urgency) == ("critical", "medium")
    assert (escalation.topic, escalation.area) == ("billing", "refunds")


def test_the_agents_default_assignee_is_assigned(team):
    sam = factories.make_user("sam")
    agent = factories.make_agent(team, default_assignee=sam)

    escalation = factories.open_escalation(factories.make_conversation(agent))

    assert escalation.assigned_to == sam


def test_a_blocking_escalation_pauses_the_conversation(conversation):
    factories.open_escalation(conversation, blocking=True)

    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.AWAITING_HUMAN


def test_a_non_blocking_escalation_only_leaves_a_card(conversation, ana):
    escalation = factories.open_escalation(conversation, blocking=False)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE

    services.respond(escalation_id=escalation.pk, user=ana, guidance="fine")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE


def test_a_second_trigger_adds_evidence_to_the_open_card(conversation):
    first = factories.open_escalation(
        conversation, severity="warning", evidence=[{"source": "rule", "text": "refund"}]
    )
    result = services.open_escalation(
        conversation=conversation,
        origin=Origin.RULE,
        reason="Customer is angry",
        severity="critical",
        evidence=[{"source": "rule", "text": "this is outrageous"}],
    )

    assert not result.created
    assert result.escalation.pk == first.pk
    assert Escalation.objects.filter(conversation=conversation).count() == 1
    escalation = Escalation.objects.get(pk=first.pk)
    assert [item["text"] for item in escalation.evidence] == ["refund", "this is outrageous"]
    assert (escalation.severity, escalation.urgency) == ("critical", "high")
    event = Event.objects.filter(escalation=escalation).last()
    assert event.type == EventType.UPDATED
    assert event.payload["changes"]["severity"] == ["warning", "critical"]
    assert [item["text"] for item in event.payload["evidence_added"]] == ["this is outrageous"]


def test_a_more_severe_trigger_heads_the_card(team):
    agent = factories.make_agent(team)
    refunds = factories.make_rule(agent, name="Refunds", severity="warning")
    legal = factories.make_rule(agent, name="Legal threats", severity="critical")
    conversation = factories.make_conversation(agent)
    factories.open_escalation(conversation, origin=Origin.RULE, rule=refunds, reason="Refund asked")

    result = services.open_escalation(
        conversation=conversation, origin=Origin.RULE, rule=legal, reason="Legal threat"
    )

    escalation = Escalation.objects.get(pk=result.escalation.pk)
    assert (escalation.severity, escalation.reason, escalation.rule) == ("critical", "Legal threat", legal)
    changes = escalation.events.last().payload["changes"]
    assert changes["reason"] == ["Refund asked", "Legal threat"]
    assert changes["rule"] == [refunds.pk, legal.pk]


def test_a_long_reason_is_kept_whole_in_the_audit(conversation):
    reason = "Customer disputes three invoices and threatens a chargeback; " * 5
    escalation = factories.open_escalation(conversation, reason=reason)

    assert escalation.history.get().history_change_reason == f"Opened by agent billing-bot: {reason.strip()}"


def test_a_lower_severity_trigger_never_lowers_the_card(conversation):
    factories.open_escalation(conversation, severity="critical")
    result = services.open_escalation(
        conversation=conversation, origin=Origin.RULE, reason="meh", severity="info"
    )

    escalation = Escalation.objects.get(pk=result.escalation.pk)
    assert (escalation.severity, escalation.reason) == ("critical", "Customer wants a refund of $150")


def test_after_the_card_closes_a_new_trigger_opens_a_new_one(conversation, ana):
    first = factories.open_escalation(conversation)
    services.respond(escalation_id=first.pk, user=ana, guidance="done")

    second = factories.open_escalation(conversation)

    assert second.pk != first.pk
    assert second.status == Status.OPEN


def test_the_database_refuses_two_active_cards_on_one_conversation(conversation):
    first = factories.open_escalation(conversation)
    clone = Escalation.objects.get(pk=first.pk)
    clone.pk = None

    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


def test_an_agent_with_escalation_turned_off_is_refused(team):
    agent = factories.make_agent(team, escalation_enabled=False)
    conversation = factories.make_conversation(agent)

    with pytest.raises(services.EscalationDisabled, match="turned off"):
        factories.open_escalation(conversation)
    assert not Escalation.objects.exists()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE


def test_a_reason_is_required(conversation):
    with pytest.raises(ValidationError):
        factories.open_escalation(conversation, reason="  ")
    assert not Escalation.objects.exists()


@pytest.mark.parametrize("field, value", [("severity", "urgent"), ("urgency", "asap")])
def test_an_unknown_severity_or_urgency_is_a_field_error(conversation, field, value):
    with pytest.raises(ValidationError) as error:
        factories.open_escalation(conversation, **{field: value})

    assert f"{value!r} is not one of" in error.value.message_dict[field][0]
    assert not Escalation.objects.exists()
