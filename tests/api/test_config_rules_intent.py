"""Intent rules over the API: create, update, refuse (one error shape), evaluate, a missing model."""

import pytest

from agents.engine import intent
from agents.models import EscalationRule, Message
from tests.agents.conftest import no_intent_model  # noqa: F401
from tests.agents.test_engine_intent import REFUNDS
from tests.api.test_config_rules import evaluate, rule_url, rules_url

URL = "/api/v1/conversations/"
INTENT_RULE = {
    "name": "Refund requests",
    "kind": "intent",
    "parameters": REFUNDS,
    "reason_template": "Refund request, like “{example}” ({score})",
    "severity": "warning",
}
REQUEST = "Hello, I bought a jacket last week and I'd like a refund please"


def test_a_contributor_creates_an_intent_rule_and_evaluate_shows_its_evidence(contributor_api, ours):
    response = contributor_api.post(rules_url(ours.agent), INTENT_RULE, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["parameters"] == INTENT_RULE["parameters"]
    body = contributor_api.post(
        f"/api/v1/agents/{ours.agent.pk}/evaluate/",
        {"messages": [{"role": "user", "content": REQUEST}]},
        format="json",
    ).json()
    (hit,) = body["hits"]
    assert hit["rule_name"] == "Refund requests"
    evidence = hit["evidence"][0]
    assert evidence["example"] in INTENT_RULE["parameters"]["should"]
    assert evidence["threshold"] == f"{intent.DEFAULT_THRESHOLD:.2f}"
    assert (
        body["would_open"]["reason"] == f"Refund request, like “{evidence['example']}” ({evidence['score']})"
    )


def test_patching_the_threshold_changes_what_fires(contributor_api, ours):
    rule_id = contributor_api.post(rules_url(ours.agent), INTENT_RULE, format="json").json()["id"]
    assert evaluate(contributor_api, ours.agent, REQUEST) == ["Refund requests"]
    rule = EscalationRule.objects.get(pk=rule_id)
    response = contributor_api.patch(
        rule_url(rule), {"parameters": {**INTENT_RULE["parameters"], "threshold": 0.95}}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert evaluate(contributor_api, ours.agent, REQUEST) == []


@pytest.mark.parametrize("field", ["should", "should_not"])
def test_too_few_examples_are_a_400_naming_the_field(contributor_api, ours, field):
    parameters = {**INTENT_RULE["parameters"], field: INTENT_RULE["parameters"][field][:2]}
    response = contributor_api.post(
        rules_url(ours.agent), {**INTENT_RULE, "parameters": parameters}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["parameters"][0].startswith(f'"{field}" needs at least 3 examples, not 2.')
    assert not EscalationRule.objects.filter(name="Refund requests").exists()


def test_a_patch_with_too_few_examples_is_refused_and_changes_nothing(contributor_api, ours):
    rule_id = contributor_api.post(rules_url(ours.agent), INTENT_RULE, format="json").json()["id"]
    rule = EscalationRule.objects.get(pk=rule_id)
    parameters = {**INTENT_RULE["parameters"], "should": ["refund please"]}
    response = contributor_api.patch(rule_url(rule), {"parameters": parameters}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["parameters"][0].startswith('"should" needs at least 3')
    rule.refresh_from_db()
    assert rule.parameters == INTENT_RULE["parameters"]


def test_an_unknown_placeholder_in_an_intent_reason_is_refused(contributor_api, ours):
    response = contributor_api.post(
        rules_url(ours.agent), {**INTENT_RULE, "reason_template": "Said {phrase}"}, format="json"
    )
    assert response.status_code == 400
    assert "{example}" in response.json()["error"]["fields"]["reason_template"][0]


def test_exception_examples_on_a_phrase_rule_are_validated(contributor_api, ours):
    rule = {
        "name": "Refund phrase",
        "kind": "phrases",
        "parameters": {"phrases": ["refund*"], "exception_examples": "refund policy"},
        "reason_template": "Refund",
    }
    response = contributor_api.post(rules_url(ours.agent), rule, format="json")
    assert response.status_code == 400
    assert '"exception_examples" must be a list' in response.json()["error"]["fields"]["parameters"][0]


def test_a_post_is_refused_with_503_when_the_model_is_missing_and_nothing_is_kept(
    agent_api,
    contributor_api,
    ours,
    no_intent_model,  # noqa: F811
):
    EscalationRule.objects.create(agent=ours.agent, **INTENT_RULE)
    before = Message.objects.count()
    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "user", "content": REQUEST}, format="json"
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "wordllama" in error["message"]
    assert Message.objects.count() == before
