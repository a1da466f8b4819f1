"""Intent rules on the rule bench: rule tests, check_rules, what-if, and the admin's forms."""

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from agents.models import EscalationRule, RuleKind
from agents.rule_bench import run_rule_tests, what_if
from tests import factories
from tests.agents.test_engine_intent import REFUNDS
from tests.agents.test_rule_bench import case, contributor, conversation_with  # noqa: F401
from tests.test_admin import agent_form, new_rule_form

REQUEST = "Hello, I bought a jacket last week and I'd like a refund please"


@pytest.fixture
def agent(db):
    agent = factories.make_agent(factories.make_team("Billing"), "Refund Bot")
    factories.make_rule(
        agent,
        name="Refund requests",
        kind=RuleKind.INTENT,
        parameters=REFUNDS,
        reason_template="Refund request, like “{example}” ({score})",
    )
    return agent


def test_rule_tests_and_check_rules_run_intent_rules(agent, capsys):
    case(agent, "asks for a refund", [("user", "hi"), ("user", REQUEST)], expected="Refund requests")
    case(agent, "policy question", [("user", "What's your policy on refunds?")], should_escalate=False)
    assert {r.case.name: r.passed for r in run_rule_tests(agent)} == {
        "asks for a refund": True,
        "policy question": True,
    }
    call_command("check_rules", agent.slug)
    assert "2 of 2 rule tests passed." in capsys.readouterr().out


def test_check_rules_fails_when_an_intent_misses(agent):
    case(agent, "miss", [("user", "What time do you open on Sundays?")], expected="Refund requests")
    with pytest.raises(CommandError, match="0 of 1 rule tests passed"):
        call_command("check_rules", agent.slug)


def test_what_if_replays_conversations_against_an_intent_rule(agent):
    conversation_with(agent, "a", REQUEST)
    conversation_with(agent, "b", "Where is my order?")
    result = what_if(agent.rules.get(), days=30)
    assert (result.conversations_checked, result.would_escalate) == (2, 1)
    (example,) = result.examples
    assert example.evidence[0]["example"] in REFUNDS["should"]


def test_the_admin_what_if_page_tries_an_edited_intent(client, agent, contributor):  # noqa: F811
    conversation_with(agent, "a", REQUEST)
    rule = agent.rules.get()
    url = reverse("admin:agents_escalationrule_what_if", args=[rule.pk])
    assert "Would have escalated 1 of 1 conversations" in client.get(url).content.decode()
    stricter = json.dumps({**REFUNDS, "threshold": 0.95})
    page = client.post(url, {"parameters": stricter, "exception_phrases": "[]"}).content.decode()
    assert "Would have escalated 0 of 1 conversations" in page
    too_few = json.dumps({**REFUNDS, "should_not": ["What is your refund policy?"]})
    page = client.post(url, {"parameters": too_few, "exception_phrases": "[]"}).content.decode()
    assert "&quot;should_not&quot; needs at least 3 examples, not 1." in page


def test_the_admin_rule_bench_shows_the_closest_example(client, agent, contributor):  # noqa: F811
    url = reverse("admin:agents_agent_rule_bench", args=[agent.pk])
    page = client.post(url, {"script": f"user: {REQUEST}"}).content.decode()
    assert "Refund request, like" in page


def test_the_admin_form_saves_an_intent_rule_from_its_fields(client, agent, contributor):  # noqa: F811
    response = client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]), _second_rule_form(agent, REFUNDS)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = EscalationRule.objects.get(name="Legal threats")
    assert (saved.kind, saved.parameters) == ("intent", REFUNDS)


def test_too_few_examples_show_next_to_the_should_field(client, agent, contributor):  # noqa: F811
    rules_before = EscalationRule.objects.count()
    response = client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]),
        _second_rule_form(agent, {**REFUNDS, "should": REFUNDS["should"][:2]}),
    )
    assert response.status_code == 200
    page = response.content.decode()
    # The error sits in the should field's row (between it and the next field), not atop the page.
    rows = re.findall(r"field-intent__should\b.*?(?=field-intent__should_not)", page, re.S)
    assert any("&quot;should&quot; needs at least 3 examples, not 2." in row for row in rows)
    assert EscalationRule.objects.count() == rules_before


def _fields(prefix: str, kind: str, parameters: dict) -> dict:
    """The inline's per-kind fields for these parameters, as the form posts them."""
    return {
        f"{prefix}{kind}__{key}": "\n".join(value) if isinstance(value, list) else str(value)
        for key, value in parameters.items()
    }


def _second_rule_form(agent, parameters: dict) -> dict:
    """The agent's page with its saved rule unchanged and a new intent rule as the second inline."""
    new = new_rule_form(
        **{"rules-0-kind": "intent", "rules-0-topic": "", **_fields("rules-0-", "intent", parameters)}
    )
    second = {key.replace("rules-0-", "rules-1-"): value for key, value in new.items() if "rules-0-" in key}
    return agent_form(agent, **_with_existing(agent.rules.get()), **second, **{"rules-TOTAL_FORMS": "2"})


def _with_existing(rule) -> dict:
    """The inline's row for the rule already saved, unchanged."""
    return {
        "rules-INITIAL_FORMS": "1",
        "rules-0-id": str(rule.pk),
        "rules-0-agent": str(rule.agent_id),
        "rules-0-name": rule.name,
        "rules-0-enabled": "on",
        "rules-0-order": str(rule.order),
        "rules-0-kind": rule.kind,
        "rules-0-applies_to": rule.applies_to,
        **_fields("rules-0-", rule.kind, rule.parameters),
        "rules-0-exception_phrases": "\n".join(rule.exception_phrases),
        "rules-0-severity": rule.severity,
        "rules-0-urgency": rule.urgency,
        "rules-0-topic": rule.topic,
        "rules-0-area": rule.area,
        "rules-0-reason_template": rule.reason_template,
    }


def test_without_the_model_check_rules_fails_with_the_reason(agent, no_intent_model):
    case(agent, "asks for a refund", [("user", REQUEST)], expected="Refund requests")
    with pytest.raises(CommandError, match="refund-bot: The intent model cannot be loaded"):
        call_command("check_rules", agent.slug)


def test_without_the_model_the_admin_pages_say_why(client, agent, contributor, no_intent_model):  # noqa: F811
    bench = client.get(reverse("admin:agents_agent_rule_bench", args=[agent.pk]))
    assert bench.status_code == 200
    assert "The intent model cannot be loaded" in bench.content.decode()
    what_if_url = reverse("admin:agents_escalationrule_what_if", args=[agent.rules.get().pk])
    page = client.get(what_if_url)
    assert page.status_code == 200
    assert "The intent model cannot be loaded" in page.content.decode()


def test_check_rules_reports_a_stored_intent_with_too_few_examples(agent, capsys):
    # Written around validation (an import, an older version): a save would have refused it.
    EscalationRule.objects.filter(agent=agent).update(parameters={**REFUNDS, "should": REFUNDS["should"][:2]})
    with pytest.raises(CommandError, match="1 rule\\(s\\) with invalid parameters"):
        call_command("check_rules", agent.slug)
    assert (
        "refund-bot: rule 'Refund requests': parameters: \"should\" needs at least 3 examples, not 2."
        in capsys.readouterr().out
    )
