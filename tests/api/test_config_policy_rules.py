"""Creating policy rules over the API: clear 400s, and never a judge's key in what comes back."""

import pytest

from agents.models import EscalationRule
from tests.agents import fake_judge
from tests.agents.fake_judge import KEY, verdict_body

judge = fake_judge.judge  # the fixture, used here by name

POLICY_RULE = {
    "name": "Legal threats",
    "kind": "policy",
    "parameters": {"policy": "Escalate any threat of legal action.", "last_n": 4},
    "reason_template": "{verdict}",
}


def create(client, agent, **changes):
    return client.post(f"/api/v1/agents/{agent.pk}/rules/", {**POLICY_RULE, **changes}, format="json")


def test_a_contributor_creates_a_policy_rule_and_its_key_is_nowhere_in_the_answer(
    contributor_api, ours, judge
):
    response = create(contributor_api, ours.agent)
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == POLICY_RULE["parameters"]
    listed = contributor_api.get(f"/api/v1/agents/{ours.agent.pk}/rules/")
    assert KEY not in response.content.decode() + listed.content.decode()


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({}, '"policy" must say in words when to escalate.'),
        ({"policy": "   "}, '"policy" must say in words when to escalate.'),
        ({"policy": "x" * 4001}, '"policy" must be at most 4000 characters, not 4001.'),
        ({"policy": "Escalate threats.", "last_n": 0}, '"last_n" (messages sent to the judge) must be'),
        ({"policy": "Escalate threats.", "last_n": 51}, '"last_n" (messages sent to the judge) must be'),
        ({"policy": "Escalate threats.", "last_n": 2.5}, '"last_n" (messages sent to the judge) must be'),
    ],
)
def test_bad_parameters_are_a_400_on_the_field(contributor_api, ours, judge, parameters, message):
    response = create(contributor_api, ours.agent, parameters=parameters)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["parameters"][0].startswith(message)
    assert not EscalationRule.objects.filter(agent=ours.agent).exists()


def test_a_reason_placeholder_of_another_kind_is_a_400(contributor_api, ours, judge):
    response = create(contributor_api, ours.agent, reason_template="Refund of {amount}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["reason_template"] == [
        "Unknown placeholder {amount}. Placeholders for this kind: {rule}, {text}, {verdict}."
    ]


def test_without_a_judge_an_enabled_rule_is_refused_on_enabled_and_a_disabled_one_saves(
    contributor_api, ours, settings
):
    settings.POLICY_JUDGE_BASE_URL = ""
    refused = create(contributor_api, ours.agent)
    assert refused.status_code == 400
    (message,) = refused.json()["error"]["fields"]["enabled"]
    assert message.startswith("No policy judge is configured on this server (POLICY_JUDGE_BASE_URL")
    drafted = create(contributor_api, ours.agent, enabled=False)
    assert drafted.status_code == 201, drafted.content


def test_evaluate_shows_the_verdict_and_a_skip(contributor_api, ours, judge):
    create(contributor_api, ours.agent)
    judge.answer = (200, verdict_body(escalate=True, severity="critical", reason="A legal threat."))
    url = f"/api/v1/agents/{ours.agent.pk}/evaluate/"
    body = {"messages": [{"role": "user", "content": "I'll sue you"}]}
    fired = contributor_api.post(url, body, format="json").json()
    assert (fired["would_open"]["severity"], fired["would_open"]["reason"]) == ("critical", "A legal threat.")
    assert fired["skipped"] == []

    judge.answer = (503, b"{}")
    body = {"messages": [{"role": "user", "content": "I'll sue you, really"}]}
    skipped = contributor_api.post(url, body, format="json").json()
    assert skipped["hits"] == [] and skipped["would_open"] is None
    (item,) = skipped["skipped"]
    assert (item["rule_name"], item["skipped"], item["message_index"]) == (
        "Legal threats",
        "skipped_error",
        0,
    )
    assert KEY not in str(fired) + str(skipped)
