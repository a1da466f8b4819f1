"""POST/GET /api/v1/conversations/ and POST …/{id}/messages/ (rules run server-side)."""

from agents.models import Conversation, Message
from escalations.models import Escalation
from tests import factories
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/conversations/"


def test_creating_a_conversation_gives_201_then_200_for_the_same_external_id(agent_api, ours):
    body = {"external_id": "t-1", "channel": "email", "subject": "Refund", "metadata": {"customer": 7}}
    created = agent_api.post(URL, body, format="json")
    again = agent_api.post(URL, {**body, "subject": "changed"}, format="json")
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == created.json()["id"]
    assert again.json()["subject"] == "Refund"  # the existing one is returned unchanged
    assert created.json()["channel"] == "email"
    assert created.json()["open_escalation"] is None


def test_a_bad_channel_is_a_field_error(agent_api):
    response = agent_api.post(URL, {"external_id": "t-1", "channel": "pigeon"}, format="json")
    assert response.status_code == 400
    assert "channel" in response.json()["error"]["fields"]


def test_the_conversation_shows_its_status_and_open_escalation(agent_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    body = agent_api.get(f"{URL}{ours.conversation.pk}/").json()
    assert body["status"] == "awaiting_human"
    assert body["open_escalation"]["id"] == escalation.pk


def test_a_supervisor_reads_their_teams_conversation_but_not_anothers(ours, theirs):
    client = token_client(ours.supervisor_token)
    assert client.get(f"{URL}{ours.conversation.pk}/").status_code == 200
    assert client.get(f"{URL}{theirs.conversation.pk}/").status_code == 404
    assert agent_client(theirs.agent_key).get(f"{URL}{ours.conversation.pk}/").status_code == 404


def test_only_agents_create_conversations(supervisor_api):
    assert supervisor_api.post(URL, {"external_id": "x"}, format="json").status_code == 403


def test_a_user_message_that_fires_a_rule_opens_an_escalation(agent_api, ours):
    factories.make_rule(ours.agent)  # phrases: "refund"
    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/",
        {"role": "user", "content": "I want a refund now"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"]["content"] == "I want a refund now"
    assert body["escalation"]["origin"] == "rule"
    assert [hit["rule_name"] for hit in body["hits"]] == ["Refunds"]
    assert body["paused"] is True  # the rule's escalation is blocking
    assert Escalation.objects.filter(conversation=ours.conversation).count() == 1


def test_a_quiet_message_is_just_recorded(agent_api, ours):
    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "user", "content": "hello"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["escalation"] is None
    assert response.json()["hits"] == []
    assert response.json()["paused"] is False


def test_a_quiet_user_message_on_a_paused_conversation_says_it_is_still_paused(agent_api, ours):
    factories.open_escalation(ours.conversation)

    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "user", "content": "hello?"}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["escalation"], response.json()["paused"]) == (None, True)


def test_an_agent_message_while_paused_gets_409_conversation_paused(agent_api, ours):
    factories.open_escalation(ours.conversation)
    before = Message.objects.count()
    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "agent", "content": "Sure!"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conversation_paused"
    assert Message.objects.count() == before


def test_messages_to_another_agents_conversation_are_404(ours, theirs):
    response = agent_client(theirs.agent_key).post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "user", "content": "hi"}, format="json"
    )
    assert response.status_code == 404
    assert Conversation.objects.get(pk=ours.conversation.pk).messages.count() == 1


def test_a_bad_role_is_a_field_error(agent_api, ours):
    response = agent_api.post(
        f"{URL}{ours.conversation.pk}/messages/", {"role": "robot", "content": "hi"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]
