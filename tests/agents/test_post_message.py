"""post_message records a message, runs the rules on it, and opens or adds to an escalation."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import ConversationStatus, Message
from agents.services import ConversationPaused, evaluate_conversation, post_message
from escalations.models import Escalation, Event, Origin, Status
from tests import factories

# team, agent ("Billing Bot") and conversation ("chat-1") come from tests/conftest.py.


@pytest.fixture
def refund_rules(agent):
    refunds = factories.make_rule(
        agent,
        name="Refunds",
        order=1,
        parameters={"phrases": ["refund"]},
        exception_phrases=["refund policy"],
        severity="warning",
        reason_template="Customer mentioned a {phrase}",
    )
    big = factories.make_rule(
        agent,
        name="Big refunds",
        order=2,
        kind="amount",
        parameters={"phrases": ["refund"], "limit": 100, "currency": "USD"},
        severity="critical",
        urgency="high",
        topic="Refunds",
        reason_template="Customer asked for a refund of {amount} (limit {limit})",
    )
    return refunds, big


def test_a_firing_message_opens_an_escalation_headed_by_the_most_severe_rule(conversation, refund_rules):
    refunds, big = refund_rules
    posted = post_message(conversation=conversation, role="user", content="I want a refund of $150")

    escalation = posted.escalation
    assert escalation.origin == Origin.RULE
    assert escalation.rule == big
    assert escalation.reason == "Customer asked for a refund of $150 (limit $100)"
    assert (escalation.severity, escalation.urgency, escalation.topic) == ("critical", "high", "Refunds")
    assert [item["rule_id"] for item in escalation.evidence] == [big.pk, refunds.pk]
    assert {item["message_id"] for item in escalation.evidence} == {posted.message.pk}
    assert escalation.evidence[0]["amount"] == "$150"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.AWAITING_HUMAN
    assert [hit.rule_id for hit in posted.hits] == [big.pk, refunds.pk]


def test_a_second_firing_message_adds_evidence_to_the_open_escalation(conversation, refund_rules):
    first = post_message(conversation=conversation, role="user", content="I want a refund")
    second = post_message(conversation=conversation, role="user", content="refund of $300, now")

    assert second.escalation.pk == first.escalation.pk
    assert Escalation.objects.filter(conversation=conversation).count() == 1
    escalation = Escalation.objects.get(pk=first.escalation.pk)
    assert escalation.severity == "critical"  # went up with the more severe rule
    assert [item["message_id"] for item in escalation.evidence] == [
        first.message.pk,
        second.message.pk,
        second.message.pk,
    ]


def test_a_quiet_message_is_kept_and_opens_nothing(conversation, refund_rules):
    posted = post_message(conversation=conversation, role="user", content="What is your refund policy?")
    assert posted.escalation is None and posted.hits == []
    assert Message.objects.filter(pk=posted.message.pk).exists()
    assert not Escalation.objects.exists()


def test_an_agent_message_is_refused_while_a_blocking_escalation_waits_and_nothing_is_written(
    conversation, refund_rules
):
    opened = post_message(conversation=conversation, role="user", content="refund please").escalation
    messages, events = Message.objects.count(), Event.objects.count()

    with pytest.raises(ConversationPaused) as error:
        post_message(conversation=conversation, role="agent", content="Sure, refunding you now.")

    assert error.value.code == "conversation_paused"
    assert f"escalation #{opened.pk}" in error.value.message
    assert error.value.escalation_id == opened.pk
    assert (Message.objects.count(), Event.objects.count()) == (messages, events)


def test_the_user_may_still_write_while_the_conversation_is_paused(conversation, refund_rules):
    post_message(conversation=conversation, role="user", content="refund please")
    posted = post_message(conversation=conversation, role="user", content="hello? anyone?")
    assert posted.message.pk is not None


def test_a_claimed_blocking_escalation_still_pauses_the_agent(conversation, team, refund_rules):
    from escalations import services
    from supervisors.models import Role

    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    opened = post_message(conversation=conversation, role="user", content="refund please").escalation
    services.claim(escalation_id=opened.pk, user=ana)
    with pytest.raises(ConversationPaused):
        post_message(conversation=conversation, role="agent", content="ok")


def test_a_non_blocking_escalation_does_not_pause_the_agent(conversation):
    factories.open_escalation(conversation, blocking=False)
    posted = post_message(conversation=conversation, role="agent", content="Let me check that for you.")
    assert posted.message.role == "agent"


def test_the_agent_may_write_again_once_the_escalation_is_answered(conversation, team, refund_rules):
    from escalations import services
    from supervisors.models import Role

    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    opened = post_message(conversation=conversation, role="user", content="refund please").escalation
    services.respond(escalation_id=opened.pk, user=ana, guidance="Offer store credit.")
    posted = post_message(conversation=conversation, role="agent", content="We can offer store credit.")
    assert posted.escalation is None
    assert Escalation.objects.get(pk=opened.pk).status == Status.RESOLVED


def test_an_agent_draft_rule_fires_on_agent_messages(conversation, agent):
    factories.make_rule(
        agent,
        name="Promises",
        applies_to="agent",
        parameters={"phrases": ["guarantee*"]},
        reason_template="x",
    )
    assert (
        post_message(conversation=conversation, role="user", content="do you guarantee it?").escalation
        is None
    )
    posted = post_message(conversation=conversation, role="agent", content="We guarantee a full refund")
    assert posted.escalation is not None
    assert posted.escalation.evidence[0]["role"] == "agent"


def test_the_history_gives_loop_rules_their_context(conversation, agent):
    factories.make_rule(
        agent, name="Loop", kind="loop", parameters={"repeats": 3}, reason_template="Asked {count} times"
    )
    for _ in range(2):
        assert (
            post_message(conversation=conversation, role="user", content="Where is my order?").escalation
            is None
        )
    posted = post_message(conversation=conversation, role="user", content="where is my order??")
    assert posted.escalation.reason == "Asked 3 times"


def test_with_escalation_turned_off_messages_are_kept_and_rules_do_not_fire(
    conversation, agent, refund_rules
):
    agent.escalation_enabled = False
    agent.save()
    posted = post_message(conversation=conversation, role="user", content="refund of $500")
    assert posted.escalation is None and posted.hits == []
    assert not Escalation.objects.exists()


def test_a_message_with_an_unknown_role_is_a_field_error(conversation):
    with pytest.raises(ValidationError) as error:
        post_message(conversation=conversation, role="bot", content="hi")
    assert "role must be one of user, agent, tool, system" in error.value.message_dict["role"][0]


# --- evaluate_conversation: the dry run ----------------------------------------------------


def test_evaluating_shows_what_would_open_and_writes_nothing(agent, conversation, refund_rules):
    refunds, big = refund_rules
    counts = (Message.objects.count(), Escalation.objects.count(), Event.objects.count())

    evaluation = evaluate_conversation(
        agent=agent,
        messages=[{"role": "agent", "content": "Hi!"}, {"role": "user", "content": "refund of $250 please"}],
    )

    assert [hit.rule_id for hit in evaluation.hits] == [big.pk, refunds.pk]
    would_open = evaluation.would_open
    assert would_open["rule_id"] == big.pk
    assert would_open["reason"] == "Customer asked for a refund of $250 (limit $100)"
    assert (would_open["severity"], would_open["urgency"], would_open["topic"]) == (
        "critical",
        "high",
        "Refunds",
    )
    assert len(would_open["evidence"]) == 2
    assert "message_id" not in would_open["evidence"][0]
    assert would_open["evidence"][0]["message_index"] == 1
    assert (Message.objects.count(), Escalation.objects.count(), Event.objects.count()) == counts


def test_evaluating_a_quiet_conversation_would_open_nothing(agent, refund_rules):
    evaluation = evaluate_conversation(agent=agent, messages=[{"role": "user", "content": "thanks!"}])
    assert evaluation.hits == [] and evaluation.would_open is None


def test_evaluating_fills_urgency_from_the_severity_when_nobody_set_it(agent):
    factories.make_rule(agent, severity="info", reason_template="r")
    (would,) = [
        evaluate_conversation(agent=agent, messages=[{"role": "user", "content": "refund"}]).would_open
    ]
    assert would["urgency"] == "low"


def test_evaluating_sees_a_rule_edit_even_with_a_stale_agent(agent):
    from agents.services import bump_rules_version

    rule = factories.make_rule(agent, parameters={"phrases": ["refund"]})
    assert evaluate_conversation(agent=agent, messages=[{"role": "user", "content": "chargeback"}]).hits == []
    rule.parameters = {"phrases": ["chargeback"]}
    rule.save()
    bump_rules_version(agent_id=agent.pk)
    hits = evaluate_conversation(agent=agent, messages=[{"role": "user", "content": "chargeback"}]).hits
    assert len(hits) == 1


@pytest.mark.parametrize(
    "messages, message",
    [
        ([], "at least one message"),
        ("refund", "at least one message"),
        (["refund"], "Message 1 must be an object"),
        ([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], "Message 2: role must be"),
        ([{"role": "user", "content": 5}], "Message 1: content must be text"),
    ],
)
def test_evaluating_bad_messages_is_a_field_error(agent, messages, message):
    with pytest.raises(ValidationError) as error:
        evaluate_conversation(agent=agent, messages=messages)
    assert message in error.value.message_dict["messages"][0]


def test_if_opening_the_escalation_fails_the_message_is_not_kept_either(
    conversation, refund_rules, monkeypatch
):
    import agents.services

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(agents.services, "open_escalation", broken)
    before = Message.objects.count()
    with pytest.raises(RuntimeError):
        post_message(conversation=conversation, role="user", content="refund please")
    assert Message.objects.count() == before


def test_the_matcher_sees_at_most_the_last_twenty_messages(conversation, agent, monkeypatch):
    from agents.engine.matcher import Matcher

    factories.make_rule(agent, reason_template="r")
    seen = []
    original = Matcher.evaluate
    monkeypatch.setattr(
        Matcher, "evaluate", lambda self, history: seen.append(history) or original(self, history)
    )
    for n in range(25):
        post_message(conversation=conversation, role="user", content=f"message {n}")
    assert len(seen[-1]) == 20
    assert seen[-1][-1].content == "message 24" and seen[-1][-1].id is not None


def test_evaluating_a_long_conversation_points_evidence_at_the_callers_message(agent):
    factories.make_rule(agent, reason_template="r")
    messages = [{"role": "user", "content": f"line {n}"} for n in range(30)] + [
        {"role": "user", "content": "refund"}
    ]
    (hit,) = evaluate_conversation(agent=agent, messages=messages).hits
    assert hit.evidence[0]["message_index"] == 30
