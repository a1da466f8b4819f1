"""claim / release / respond / dismiss (supervisors) and withdraw (the agent), through the services."""

import pytest
from rest_framework.test import APIClient

from agents.models import ConversationStatus
from escalations import services
from escalations.models import Event, EventType
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import agent_client, token_client


def act(client, escalation, verb, data=None):
    return client.post(f"/api/v1/escalations/{escalation.pk}/{verb}/", data or {}, format="json")


@pytest.fixture
def escalation(ours):
    return factories.open_escalation(ours.conversation)


@pytest.fixture
def bob_api(ours):
    bob = factories.make_user("bob")
    factories.add_member(bob, ours.team, Role.SUPERVISOR)
    _, token = user_token_create(user=bob)
    return token_client(token)


def test_claim_then_respond_resolves_and_resumes_the_conversation(supervisor_api, escalation):
    claimed = act(supervisor_api, escalation, "claim")
    assert claimed.status_code == 200
    assert claimed.json()["claimed_by"] == "ana"
    answered = act(supervisor_api, escalation, "respond", {"guidance": "Refund half."})
    assert answered.status_code == 200
    assert answered.json()["resolution"]["outcome"] == "resumed"
    escalation.conversation.refresh_from_db()
    assert escalation.conversation.status == ConversationStatus.ACTIVE
    assert list(Event.objects.filter(escalation=escalation).values_list("type", flat=True)) == [
        EventType.CREATED,
        EventType.CLAIMED,
        EventType.RESOLVED,
    ]


def test_release_gives_it_back_to_the_queue(supervisor_api, escalation):
    act(supervisor_api, escalation, "claim")
    response = act(supervisor_api, escalation, "release", {"reason": "Shift over"})
    assert response.status_code == 200
    assert response.json()["status"] == "open"


def test_dismiss_with_a_note(supervisor_api, escalation):
    response = act(supervisor_api, escalation, "dismiss", {"note": "Handled by phone"})
    assert response.json()["resolution"] == {
        **response.json()["resolution"],
        "outcome": "dismissed",
        "note": "Handled by phone",
    }


def test_a_second_claim_gets_409_already_claimed_naming_who(supervisor_api, bob_api, escalation):
    act(supervisor_api, escalation, "claim")
    response = act(bob_api, escalation, "claim")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_claimed"
    assert "ana" in error["message"] and "UTC" in error["message"]


@pytest.mark.parametrize(
    ("close", "code"),
    [("respond", "already_resolved"), ("dismiss", "already_dismissed")],
)
def test_acting_on_a_closed_escalation_gets_409_naming_who_and_when(supervisor_api, escalation, close, code):
    act(supervisor_api, escalation, close, {"guidance": "Done."})
    response = act(supervisor_api, escalation, "claim")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"].startswith(f"This escalation is already {code[8:]} by ana at ")


def test_a_withdrawn_escalation_refuses_a_response_with_already_withdrawn(
    agent_api, supervisor_api, escalation
):
    assert act(agent_api, escalation, "withdraw", {"reason": "User left"}).status_code == 200
    response = act(supervisor_api, escalation, "respond", {"guidance": "Too late"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_withdrawn"
    assert "Billing Bot" in response.json()["error"]["message"]


def test_releasing_an_open_escalation_gets_409_not_claimed(supervisor_api, escalation):
    response = act(supervisor_api, escalation, "release")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_claimed"


def test_answering_anothers_claim_gets_409_claimed_by_another(supervisor_api, bob_api, escalation):
    act(supervisor_api, escalation, "claim")
    response = act(bob_api, escalation, "respond", {"guidance": "mine"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "claimed_by_another"


def test_releasing_anothers_claim_is_403_from_the_service(supervisor_api, bob_api, escalation):
    act(supervisor_api, escalation, "claim")
    response = act(bob_api, escalation, "release")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "ana" in response.json()["error"]["message"]


def test_respond_without_guidance_is_a_field_error(supervisor_api, escalation):
    response = act(supervisor_api, escalation, "respond", {"guidance": ""})
    assert response.status_code == 400
    assert "guidance" in response.json()["error"]["fields"]


def test_blank_guidance_refused_by_the_service_is_a_field_error_too(supervisor_api, escalation):
    response = act(supervisor_api, escalation, "respond", {"guidance": "   "})
    assert response.status_code == 400
    assert "guidance" in response.json()["error"]["fields"]


def test_an_agent_key_cannot_claim_its_own_escalation(agent_api, escalation):
    response = act(agent_api, escalation, "claim")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_supervisor_cannot_withdraw(supervisor_api, escalation):
    assert act(supervisor_api, escalation, "withdraw").status_code == 403


def test_another_teams_supervisor_gets_404_on_every_verb(theirs, escalation):
    client = token_client(theirs.supervisor_token)
    for verb in ["claim", "release", "respond", "dismiss"]:
        response = act(client, escalation, verb, {"guidance": "x"})
        assert response.status_code == 404, verb
    escalation.refresh_from_db()
    assert escalation.status == "open"


def test_another_teams_agent_gets_404_on_withdraw(theirs, escalation):
    assert act(agent_client(theirs.agent_key), escalation, "withdraw").status_code == 404


def test_a_console_session_can_claim_with_its_csrf_token(ours, escalation):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(ours.supervisor)
    without_token = act(client, escalation, "claim")
    assert without_token.status_code == 403
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"/api/v1/escalations/{escalation.pk}/claim/", {}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_an_owner_may_answer_anothers_claim(ours, escalation):
    olga = factories.make_user("olga")
    factories.add_member(olga, ours.team, Role.OWNER)
    services.claim(escalation_id=escalation.pk, user=ours.supervisor)
    _, token = user_token_create(user=olga)
    assert act(token_client(token), escalation, "dismiss").status_code == 200
