"""The rule bench: stored rule tests, check_rules for CI, what-if, and the admin pages."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from agents.models import Conversation, Message, RuleTestCase
from agents.rule_bench import parse_script, run_rule_tests, what_if
from supervisors.models import Role
from tests import factories


@pytest.fixture
def agent(db):
    agent = factories.make_agent(factories.make_team("Billing"), "Refund Bot")
    factories.make_rule(agent, name="Refunds", parameters={"phrases": ["refund"]}, severity="warning")
    factories.make_rule(
        agent, name="Legal", kind="phrases", parameters={"phrases": ["lawyer"]}, severity="critical"
    )
    return agent


def case(agent, name, lines, should_escalate=True, expected=None):
    return RuleTestCase.objects.create(
        agent=agent,
        name=name,
        messages=[{"role": role, "content": text} for role, text in lines],
        should_escalate=should_escalate,
        expected_rule=agent.rules.get(name=expected) if expected else None,
    )


def verdicts(agent):
    return {r.case.name: (r.passed, r.problem) for r in run_rule_tests(agent)}


def test_a_script_escalates_when_any_message_fires_as_it_arrives(agent):
    case(
        agent,
        "refund midway",
        [("user", "hi"), ("user", "I want a refund"), ("agent", "Sure"), ("user", "thanks")],
        expected="Refunds",
    )

    (result,) = run_rule_tests(agent)

    assert (result.passed, result.fired_at, result.fired_rules) == (True, 1, ["Refunds"])


def test_failures_say_what_went_wrong(agent):
    case(agent, "quiet", [("user", "Where is my parcel?")])
    case(agent, "false alarm", [("user", "What is your refund policy?")], should_escalate=False)
    case(agent, "wrong rule", [("user", "my lawyer will call")], expected="Refunds")
    case(agent, "fine", [("user", "Where is my parcel?")], should_escalate=False)

    assert verdicts(agent) == {
        "quiet": (False, "Should escalate, but no rule fired."),
        "false alarm": (False, "Should not escalate, but Refunds fired on message 1."),
        "wrong rule": (False, "Should escalate by Refunds, but Legal fired instead."),
        "fine": (True, ""),
    }


def test_check_rules_exits_non_zero_on_a_failure_for_ci(agent, capsys):
    case(agent, "refund", [("user", "refund please")], expected="Refunds")
    call_command("check_rules", agent.slug)
    assert "1 of 1 rule tests passed." in capsys.readouterr().out

    case(agent, "quiet", [("user", "hello")])
    with pytest.raises(CommandError, match="1 of 2 rule tests passed."):
        call_command("check_rules")
    assert "FAIL  quiet: Should escalate, but no rule fired." in capsys.readouterr().out


def test_check_rules_names_an_unknown_agent(agent):
    with pytest.raises(CommandError, match="No agent with the slug nope"):
        call_command("check_rules", "nope")


def conversation_with(agent, external_id, text, days_ago=0):
    conversation = Conversation.objects.create(agent=agent, external_id=external_id)
    Message.objects.create(conversation=conversation, role="user", content="hello")
    Message.objects.create(conversation=conversation, role="user", content=text)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=timezone.now() - dt.timedelta(days=days_ago)
    )
    return conversation


def test_what_if_replays_recent_conversations_against_one_rule(agent):
    conversation_with(agent, "a", "I want a refund now")
    conversation_with(agent, "b", "Where is my order?")
    conversation_with(agent, "c", "refund, please", days_ago=3)
    conversation_with(agent, "old", "refund", days_ago=60)
    rule = agent.rules.get(name="Refunds")

    result = what_if(rule, days=30)

    assert (result.conversations_checked, result.would_escalate) == (3, 2)
    assert sorted(e.conversation.external_id for e in result.examples) == ["a", "c"]
    assert result.examples[0].evidence[0]["text"].lower() == "refund"


def test_what_if_tries_an_unsaved_version_of_the_rule(agent):
    conversation_with(agent, "a", "I want a refund now")
    conversation_with(agent, "b", "chargeback incoming")
    rule = agent.rules.get(name="Refunds")
    rule.parameters = {"phrases": ["chargeback"]}

    result = what_if(rule, days=30)

    assert [e.conversation.external_id for e in result.examples] == ["b"]
    assert agent.rules.get(name="Refunds").parameters == {"phrases": ["refund"]}


def test_parse_script_reads_roles_and_continuation_lines():
    assert parse_script("user: I want\n  a refund\n\nAgent: ok") == [
        {"role": "user", "content": "I want\na refund"},
        {"role": "agent", "content": "ok"},
    ]
    with pytest.raises(ValidationError, match="Line 1 needs a role first"):
        parse_script("hello there")
    with pytest.raises(ValidationError, match="Paste at least one line"):
        parse_script("   ")


@pytest.fixture
def contributor(agent, client):
    user = factories.make_user("carla", is_staff=True)
    factories.add_member(user, agent.team, Role.CONTRIBUTOR)
    client.force_login(user)
    return user


def test_the_admin_rule_bench_shows_results_and_tries_a_pasted_conversation(client, agent, contributor):
    case(agent, "refund", [("user", "refund please")], expected="Refunds")
    url = reverse("admin:agents_agent_rule_bench", args=[agent.pk])
    assert url in client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()

    page = client.get(url).content.decode()
    assert "pass" in page and "refund please" not in page and "Refunds" in page

    page = client.post(url, {"script": "user: hi\nuser: my LAWYER will call you"}).content.decode()
    assert "Would open a <strong>critical</strong> escalation" in page
    assert "<code>LAWYER</code>" in page
    assert not Message.objects.exists()  # a dry run

    page = client.post(url, {"script": "no role here"}).content.decode()
    assert "Line 1 needs a role first" in page


def test_the_admin_what_if_page_tries_an_edited_rule(client, agent, contributor):
    conversation_with(agent, "a", "I want a refund now")
    rule = agent.rules.get(name="Refunds")
    url = reverse("admin:agents_escalationrule_what_if", args=[rule.pk])

    assert "Would have escalated 1 of 1 conversations" in client.get(url).content.decode()
    page = client.post(url, {"parameters": '{"phrases": ["voucher"]}', "exception_phrases": "[]"})
    assert "Would have escalated 0 of 1 conversations" in page.content.decode()
    page = client.post(url, {"parameters": '{"phrases": []}', "exception_phrases": "[]"})
    assert "needs at least one phrase" in page.content.decode()
    assert agent.rules.get(name="Refunds").parameters == {"phrases": ["refund"]}


def test_another_teams_contributor_cannot_open_the_bench(client, agent):
    outsider = factories.make_user("otto", is_staff=True)
    factories.add_member(outsider, factories.make_team("Support"), Role.CONTRIBUTOR)
    client.force_login(outsider)

    assert client.get(reverse("admin:agents_agent_rule_bench", args=[agent.pk])).status_code == 404
    rule = agent.rules.first()
    assert client.get(reverse("admin:agents_escalationrule_what_if", args=[rule.pk])).status_code == 404
