"""POST /api/v1/agents/{id}/evaluate/: a dry run of the saved rules that writes nothing."""

import pytest

from agents.models import Message
from escalations.models import Escalation
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import agent_client, token_client


def url(agent):
    return f"/api/v1/agents/{agent.pk}/evaluate/"


CHAT = {
    "messages": [
        {"role": "user", "content": "Hello"},
        {"role": "agent", "content": "Hi, how can I help?"},
        {"role": "user", "content": "I want a refund now"},
    ]
}


@pytest.fixture
def refund_rule(ours):
    return factories.make_rule(ours.agent, severity="critical")


def test_a_firing_rule_shows_evidence_and_the_escalation_it_would_open(contributor_api, ours, refund_rule):
    messages_before = Message.objects.count()
    response = contributor_api.post(url(ours.agent), CHAT, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [hit["rule_id"] for hit in body["hits"]] == [refund_rule.pk]
    assert body["hits"][0]["evidence"][0]["message_index"] == 2
    assert body["would_open"]["rule_id"] == refund_rule.pk
    assert body["would_open"]["severity"] == "critical"
    assert body["would_open"]["urgency"] == "high"
    assert body["escalation_enabled"] is True
    assert Message.objects.count() == messages_before
    assert not Escalation.objects.exists()


def test_nothing_fires_on_a_harmless_chat(contributor_api, ours, refund_rule):
    body = contributor_api.post(
        url(ours.agent), {"messages": [{"role": "user", "content": "thanks"}]}, format="json"
    ).json()
    assert (body["hits"], body["would_open"]) == ([], None)


def test_a_disabled_agent_shows_hits_but_would_open_nothing(contributor_api, ours, refund_rule):
    ours.agent.escalation_enabled = False
    ours.agent.save()
    body = contributor_api.post(url(ours.agent), CHAT, format="json").json()
    assert body["escalation_enabled"] is False
    assert len(body["hits"]) == 1
    assert body["would_open"] is None


def test_the_agents_own_key_may_dry_run_its_rules(ours, refund_rule):
    response = agent_client(ours.agent_key).post(url(ours.agent), CHAT, format="json")
    assert response.status_code == 200
    assert response.json()["would_open"]["rule_id"] == refund_rule.pk


def test_an_agent_key_gets_404_for_another_agent(ours, theirs):
    response = agent_client(ours.agent_key).post(url(theirs.agent), CHAT, format="json")
    assert response.status_code == 404


def test_a_supervisor_only_member_gets_403(supervisor_api, ours):
    response = supervisor_api.post(url(ours.agent), CHAT, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_another_teams_owner_gets_404(ours, theirs):
    olga = factories.make_user("olga")
    factories.add_member(olga, theirs.team, Role.OWNER)
    _, token = user_token_create(user=olga)
    assert token_client(token).post(url(ours.agent), CHAT, format="json").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": [{"role": "robot", "content": "hi"}]},
        {"messages": [{"role": "user"}]},
    ],
)
def test_bad_messages_are_a_field_error(contributor_api, ours, body):
    response = contributor_api.post(url(ours.agent), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "messages" in response.json()["error"]["fields"]
