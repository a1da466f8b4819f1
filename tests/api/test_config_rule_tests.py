"""/api/v1/agents/{id}/rule-tests/: the rule bench's cases, and running them."""

import pytest

from agents.models import RuleTestCase
from tests import factories


def cases_url(agent):
    return f"/api/v1/agents/{agent.pk}/rule-tests/"


def case_url(case):
    return f"/api/v1/agents/{case.agent_id}/rule-tests/{case.pk}/"


REFUND_CHAT = [{"role": "user", "content": "hi"}, {"role": "user", "content": "I want a refund"}]


@pytest.fixture
def rule(ours):
    return factories.make_rule(ours.agent)


@pytest.fixture
def case(ours, rule):
    return RuleTestCase.objects.create(
        agent=ours.agent, name="refund", messages=REFUND_CHAT, expected_rule=rule
    )


def test_a_contributor_creates_a_case_naming_the_expected_rule(contributor_api, ours, rule):
    response = contributor_api.post(
        cases_url(ours.agent),
        {"name": "asks for refund", "messages": REFUND_CHAT, "expected_rule": rule.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert RuleTestCase.objects.get(pk=response.json()["id"]).expected_rule == rule


def test_bad_messages_are_a_field_error(contributor_api, ours):
    response = contributor_api.post(
        cases_url(ours.agent), {"name": "x", "messages": [{"role": "robot", "content": "hi"}]}, format="json"
    )
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["fields"]


def test_another_agents_rule_cannot_be_expected(contributor_api, ours, theirs):
    other = factories.make_rule(theirs.agent)
    response = contributor_api.post(
        cases_url(ours.agent),
        {"name": "x", "messages": REFUND_CHAT, "expected_rule": other.pk},
        format="json",
    )
    assert response.status_code == 400
    assert "expected_rule" in response.json()["error"]["fields"]


def test_list_retrieve_patch_and_delete(contributor_api, case):
    assert [row["id"] for row in contributor_api.get(cases_url(case.agent)).json()["results"]] == [case.pk]
    assert contributor_api.get(case_url(case)).json()["name"] == "refund"
    patched = contributor_api.patch(case_url(case), {"should_escalate": False}, format="json")
    assert patched.status_code == 200
    case.refresh_from_db()
    assert case.should_escalate is False
    assert contributor_api.delete(case_url(case)).status_code == 204
    assert not RuleTestCase.objects.filter(pk=case.pk).exists()


def test_run_reports_each_case_with_fired_rules_and_a_summary(contributor_api, ours, case):
    RuleTestCase.objects.create(
        agent=ours.agent,
        name="small talk",
        messages=[{"role": "user", "content": "refund?"}],
        should_escalate=False,
    )
    response = contributor_api.post(f"/api/v1/agents/{ours.agent.pk}/rule-tests/run/")
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"passed": 1, "failed": 1}
    by_name = {result["test"]["name"]: result for result in body["results"]}
    assert by_name["refund"]["passed"] is True
    assert by_name["refund"]["fired_at"] == 1
    assert by_name["refund"]["fired_rules"] == ["Refunds"]
    assert by_name["refund"]["hits"][0]["evidence"]
    assert by_name["small talk"]["passed"] is False
    assert "Should not escalate" in by_name["small talk"]["problem"]


def test_a_supervisor_reads_cases_but_cannot_write_or_run_them(supervisor_api, case):
    assert supervisor_api.get(case_url(case)).status_code == 200
    assert supervisor_api.patch(case_url(case), {"name": "y"}, format="json").status_code == 403
    assert supervisor_api.delete(case_url(case)).status_code == 403
    assert supervisor_api.post(f"/api/v1/agents/{case.agent_id}/rule-tests/run/").status_code == 403


def test_another_teams_cases_are_404(contributor_api, theirs):
    other = RuleTestCase.objects.create(agent=theirs.agent, name="x", messages=REFUND_CHAT)
    assert contributor_api.get(cases_url(theirs.agent)).status_code == 404
    assert contributor_api.get(case_url(other)).status_code == 404
    assert contributor_api.delete(case_url(other)).status_code == 404
    assert contributor_api.post(f"/api/v1/agents/{theirs.agent.pk}/rule-tests/run/").status_code == 404
