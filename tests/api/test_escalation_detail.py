"""GET /api/v1/escalations/{id}/ without waiting: the escalation, its status and resolution, in scope only."""

from escalations import services
from tests import factories
from tests.api.conftest import agent_client, token_client


def url(escalation, query=""):
    return f"/api/v1/escalations/{escalation.pk}/{query}"


def test_an_agent_reads_its_escalation_with_no_resolution_yet(agent_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    response = agent_api.get(url(escalation))
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert response.json()["resolution"] is None


def test_a_resolved_escalation_carries_the_guidance_responder_and_time(agent_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    services.respond(escalation_id=escalation.pk, user=ours.supervisor, guidance="Refund half.")
    resolution = agent_api.get(url(escalation)).json()["resolution"]
    assert resolution["outcome"] == "resumed"
    assert resolution["guidance"] == "Refund half."
    assert resolution["responder"] == "ana"
    assert resolution["at"]


def test_a_dismissed_escalation_says_dismissed(agent_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    services.dismiss(escalation_id=escalation.pk, user=ours.supervisor, note="Not needed")
    resolution = agent_api.get(url(escalation)).json()["resolution"]
    assert resolution["outcome"] == "dismissed"
    assert resolution["note"] == "Not needed"


def test_an_agent_key_of_another_team_gets_404(ours, theirs):
    escalation = factories.open_escalation(ours.conversation)
    response = agent_client(theirs.agent_key).get(url(escalation))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_another_teams_supervisor_gets_the_same_404_as_for_a_missing_one(ours, theirs):
    escalation = factories.open_escalation(ours.conversation)
    client = token_client(theirs.supervisor_token)
    assert client.get(url(escalation)).json() == client.get("/api/v1/escalations/999999/").json()
    assert client.get(url(escalation)).status_code == 404


def test_a_superuser_sees_every_team(ours):
    escalation = factories.open_escalation(ours.conversation)
    from supervisors.tokens import user_token_create

    _, token = user_token_create(user=factories.make_user("root", superuser=True))
    assert token_client(token).get(url(escalation)).status_code == 200


def test_wait_above_the_limit_is_a_field_error(agent_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    response = agent_api.get(url(escalation, "?wait=61"))
    assert response.status_code == 400
    assert "wait" in response.json()["error"]["fields"]
