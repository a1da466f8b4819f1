"""/api/v1/agents/{id}/rules/: every write validates, records history and bumps rules_version."""

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, EscalationRule, Label, LabelKind
from tests import factories
from tests.api.conftest import token_client


def rules_url(agent):
    return f"/api/v1/agents/{agent.pk}/rules/"


def rule_url(rule):
    return f"/api/v1/agents/{rule.agent_id}/rules/{rule.pk}/"


def evaluate(client, agent, content):
    response = client.post(
        f"/api/v1/agents/{agent.pk}/evaluate/",
        {"messages": [{"role": "user", "content": content}]},
        format="json",
    )
    return [hit["rule_name"] for hit in response.json()["hits"]]


NEW_RULE = {
    "name": "Chargebacks",
    "kind": "phrases",
    "parameters": {"phrases": ["chargeback"]},
    "reason_template": "Customer threatens a chargeback",
    "severity": "critical",
}


def rules_version(agent) -> int:
    return Agent.objects.get(pk=agent.pk).rules_version


@pytest.fixture
def rule(ours):
    return factories.make_rule(ours.agent)


def test_a_member_lists_the_rules_in_evaluation_order(supervisor_api, ours):
    second = factories.make_rule(ours.agent, name="Second", order=2)
    first = factories.make_rule(ours.agent, name="First", order=1)
    response = supervisor_api.get(rules_url(ours.agent))
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [first.pk, second.pk]


def test_a_member_retrieves_a_rule(supervisor_api, rule):
    body = supervisor_api.get(rule_url(rule)).json()
    assert (body["id"], body["parameters"]) == (rule.pk, {"phrases": ["refund"]})


def test_creating_a_rule_bumps_the_version_and_the_next_evaluate_sees_it(contributor_api, cora, ours):
    assert evaluate(contributor_api, ours.agent, "I will file a chargeback") == []
    before = rules_version(ours.agent)
    response = contributor_api.post(rules_url(ours.agent), NEW_RULE, format="json")
    assert response.status_code == 201, response.json()
    assert rules_version(ours.agent) == before + 1
    assert evaluate(contributor_api, ours.agent, "I will file a chargeback") == ["Chargebacks"]
    record = EscalationRule.objects.get(pk=response.json()["id"]).history.get()
    assert (record.history_user, record.history_change_reason) == (cora, "API: created")


def test_patching_a_rule_bumps_the_version_and_the_next_evaluate_sees_it(contributor_api, cora, ours, rule):
    assert evaluate(contributor_api, ours.agent, "I want my money back") == []
    before = rules_version(ours.agent)
    response = contributor_api.patch(
        rule_url(rule), {"parameters": {"phrases": ["money back"]}}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert rules_version(ours.agent) == before + 1
    assert evaluate(contributor_api, ours.agent, "I want my money back") == ["Refunds"]
    record = rule.history.first()
    assert (record.history_user, record.history_change_reason) == (cora, "API: changed parameters")


def test_deleting_a_rule_bumps_the_version_and_the_next_evaluate_no_longer_fires(
    contributor_api, cora, ours, rule
):
    assert evaluate(contributor_api, ours.agent, "refund please") == ["Refunds"]
    before = rules_version(ours.agent)
    assert contributor_api.delete(rule_url(rule)).status_code == 204
    assert rules_version(ours.agent) == before + 1
    assert evaluate(contributor_api, ours.agent, "refund please") == []
    record = EscalationRule.history.filter(id=rule.pk).first()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "-",
        cora,
        "API: deleted",
    )


def test_an_invalid_regex_is_a_parameters_error_and_nothing_is_bumped(contributor_api, ours):
    before = rules_version(ours.agent)
    response = contributor_api.post(
        rules_url(ours.agent),
        {**NEW_RULE, "kind": "regex", "parameters": {"pattern": "order (#"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "parameters" in response.json()["error"]["fields"]
    assert rules_version(ours.agent) == before
    assert not EscalationRule.objects.filter(name="Chargebacks").exists()


def test_an_invalid_patch_changes_nothing(contributor_api, ours, rule):
    before = rules_version(ours.agent)
    response = contributor_api.patch(rule_url(rule), {"kind": "amount"}, format="json")
    assert response.status_code == 400
    assert "parameters" in response.json()["error"]["fields"]
    rule.refresh_from_db()
    assert rule.kind == "phrases"
    assert rules_version(ours.agent) == before


def test_an_unknown_topic_lists_the_allowed_ones(contributor_api, ours):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    response = contributor_api.post(rules_url(ours.agent), {**NEW_RULE, "topic": "weather"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["topic"] == ["Unknown topic 'weather'. Allowed: refunds."]


def test_a_supervisor_reads_but_gets_403_on_every_write(supervisor_api, ours, rule):
    assert supervisor_api.get(rule_url(rule)).status_code == 200
    assert supervisor_api.post(rules_url(ours.agent), NEW_RULE, format="json").status_code == 403
    assert supervisor_api.patch(rule_url(rule), {"enabled": False}, format="json").status_code == 403
    assert supervisor_api.delete(rule_url(rule)).status_code == 403
    rule.refresh_from_db()
    assert rule.enabled


def test_another_teams_rules_are_404(contributor_api, theirs):
    other = factories.make_rule(theirs.agent)
    assert contributor_api.get(rules_url(theirs.agent)).status_code == 404
    assert contributor_api.get(rule_url(other)).status_code == 404
    assert contributor_api.post(rules_url(theirs.agent), NEW_RULE, format="json").status_code == 404
    assert contributor_api.patch(rule_url(other), {"enabled": False}, format="json").status_code == 404
    assert contributor_api.delete(rule_url(other)).status_code == 404
    assert EscalationRule.objects.filter(pk=other.pk, enabled=True).exists()


def test_a_rule_id_under_another_agent_is_404(contributor_api, ours, theirs, rule):
    response = token_client(theirs.supervisor_token).get(f"/api/v1/agents/{theirs.agent.pk}/rules/{rule.pk}/")
    assert response.status_code == 404


def test_an_agent_key_gets_403(agent_api, ours, rule):
    assert agent_api.get(rules_url(ours.agent)).status_code == 403
    assert agent_api.post(rules_url(ours.agent), NEW_RULE, format="json").status_code == 403


def test_a_patch_that_changes_nothing_writes_no_history_and_bumps_nothing(contributor_api, ours, rule):
    before, rows = rules_version(ours.agent), rule.history.count()
    response = contributor_api.patch(rule_url(rule), {"name": rule.name}, format="json")
    assert response.status_code == 200
    assert (rules_version(ours.agent), rule.history.count()) == (before, rows)


def test_a_console_session_writes_with_its_csrf_token(cora, ours):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cora)
    assert client.post(rules_url(ours.agent), NEW_RULE, format="json").status_code == 403
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(rules_url(ours.agent), NEW_RULE, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    record = EscalationRule.objects.get(pk=response.json()["id"]).history.get()
    assert record.history_user == cora


@pytest.mark.parametrize(
    "kind, parameters, message",
    [
        (
            "sentiment",
            {"treshold": 0.3},
            'Unknown parameter "treshold" for a sentiment rule. Did you mean "threshold"?',
        ),
        ("phrases", {"phrases": ["refund"], "word_gaps": 1}, 'Did you mean "word_gap"?'),
        (
            "amount",
            {"phrases": ["refund"], "limit": 100, "currency": "USD", "colour": "red"},
            "Known: phrases",
        ),
    ],
)
def test_an_unknown_or_misspelt_parameter_is_a_400_naming_it(
    contributor_api, ours, kind, parameters, message
):
    response = contributor_api.post(
        rules_url(ours.agent), {**NEW_RULE, "kind": kind, "parameters": parameters}, format="json"
    )
    assert response.status_code == 400
    (text,) = response.json()["error"]["fields"]["parameters"]
    assert message in text
    assert not EscalationRule.objects.filter(name="Chargebacks").exists()


def test_an_amount_rule_without_a_currency_is_a_400(contributor_api, ours):
    body = {**NEW_RULE, "kind": "amount", "parameters": {"phrases": ["refund"], "limit": 100}}
    response = contributor_api.post(rules_url(ours.agent), body, format="json")
    assert response.status_code == 400
    assert '"currency" is required' in response.json()["error"]["fields"]["parameters"][0]


def test_the_new_word_options_are_accepted_and_used(contributor_api, ours):
    parameters = {"phrases": ["delete account"], "word_gap": 3, "typos": False, "fire_when_negated": True}
    response = contributor_api.post(
        rules_url(ours.agent), {**NEW_RULE, "parameters": parameters}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert evaluate(contributor_api, ours.agent, "I did not delete my old Premium account") == ["Chargebacks"]
    assert evaluate(contributor_api, ours.agent, "delete my acount") == []


def test_the_schema_shows_each_kinds_parameters_with_defaults(supervisor_api):
    schema = supervisor_api.get("/api/schema/", {"format": "json"}).json()
    parameters = schema["components"]["schemas"]["Rule"]["properties"]["parameters"]
    by_title = {option["title"]: option for option in parameters["anyOf"]}
    assert set(by_title) >= {f"{kind} parameters" for kind in ("phrases", "regex", "amount", "sentiment")}
    phrases = by_title["phrases parameters"]
    assert phrases["additionalProperties"] is False
    assert phrases["properties"]["word_gap"]["default"] == 2
    assert phrases["properties"]["fire_when_negated"]["default"] is False
    assert by_title["sentiment parameters"]["properties"]["threshold"]["default"] == 0.5
    assert by_title["amount parameters"]["required"] == ["phrases", "limit", "currency"]
