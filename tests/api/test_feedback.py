"""POST /api/v1/escalations/{id}/feedback/ {"needed": true|false}, and `needed` with the answers."""

from escalations.models import Escalation
from tests import factories
from tests.api.conftest import agent_client


def post(client, escalation, verb, data):
    return client.post(f"/api/v1/escalations/{escalation.pk}/{verb}/", data, format="json")


def test_feedback_marks_and_the_body_shows_it(supervisor_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    response = post(supervisor_api, escalation, "feedback", {"needed": False})
    assert response.status_code == 200
    assert response.json()["needed"] is False
    assert Escalation.objects.get(pk=escalation.pk).marked_by == ours.supervisor


def test_feedback_without_a_boolean_is_a_400_naming_the_field(supervisor_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    for body in ({}, {"needed": None}, {"needed": "perhaps"}):
        response = post(supervisor_api, escalation, "feedback", body)
        assert response.status_code == 400, body
        assert "needed" in str(response.json())
    assert Escalation.objects.get(pk=escalation.pk).needed is None


def test_dismiss_can_carry_the_verdict(supervisor_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    response = post(supervisor_api, escalation, "dismiss", {"note": "Noise", "needed": False})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["needed"]) == ("dismissed", False)


def test_another_teams_escalation_is_a_404_and_agents_may_not_mark(supervisor_api, ours, theirs):
    other = factories.open_escalation(theirs.conversation)
    assert post(supervisor_api, other, "feedback", {"needed": True}).status_code == 404
    own = factories.open_escalation(ours.conversation)
    assert post(agent_client(ours.agent_key), own, "feedback", {"needed": True}).status_code == 403
