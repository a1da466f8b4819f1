"""Topics and areas are a team's controlled vocabulary once it defines one."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import Label, LabelKind
from escalations.models import Escalation
from tests import factories


@pytest.fixture
def team(db):
    team = factories.make_team("Billing")
    for name in ("Refunds", "Legal"):
        Label.objects.create(team=team, kind=LabelKind.TOPIC, name=name)
    Label.objects.create(team=team, kind=LabelKind.AREA, name="Refunds mailbox")
    return team


def test_an_unknown_topic_on_an_escalation_is_refused_listing_the_allowed_ones(team):
    conversation = factories.make_conversation(factories.make_agent(team))

    with pytest.raises(ValidationError) as error:
        factories.open_escalation(conversation, topic="Refundz", area="Refunds mailbox")

    assert error.value.message_dict == {"topic": ["Unknown topic 'Refundz'. Allowed: Legal, Refunds."]}
    assert not Escalation.objects.exists()


def test_known_labels_are_accepted(team):
    conversation = factories.make_conversation(factories.make_agent(team))

    escalation = factories.open_escalation(conversation, topic="Legal", area="Refunds mailbox")

    assert (escalation.topic, escalation.area) == ("Legal", "Refunds mailbox")


def test_agents_and_rules_may_only_use_existing_labels(team):
    agent = factories.make_agent(team, default_topic="Refunds")
    agent.full_clean()
    agent.default_area = "Ledger"
    with pytest.raises(ValidationError) as error:
        agent.full_clean()
    assert error.value.message_dict["default_area"] == ["Unknown area 'Ledger'. Allowed: Refunds mailbox."]

    rule = factories.make_rule(agent, topic="Legal")
    rule.full_clean()
    rule.topic = "Sales"
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "Unknown topic 'Sales'" in error.value.message_dict["topic"][0]


def test_labels_of_another_team_do_not_count(team):
    other = factories.make_team("Support")
    Label.objects.create(team=other, kind=LabelKind.TOPIC, name="Orders")
    conversation = factories.make_conversation(factories.make_agent(team))

    with pytest.raises(ValidationError):
        factories.open_escalation(conversation, topic="Orders")


def test_a_team_without_a_vocabulary_of_a_kind_accepts_any_value(db):
    team = factories.make_team("Fresh")
    conversation = factories.make_conversation(factories.make_agent(team))

    escalation = factories.open_escalation(conversation, topic="anything", area="anywhere")

    assert escalation.topic == "anything"
