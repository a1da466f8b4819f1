"""`allowed_verbs` in every escalation body: what this caller may do to it now."""

import pytest

from tests import factories


def act(client, escalation, verb, data=None):
    return client.post(f"/api/v1/escalations/{escalation.pk}/{verb}/", data or {}, format="json")


@pytest.fixture
def escalation(ours):
    return factories.open_escalation(ours.conversation)


def test_a_supervisor_is_offered_the_verbs_of_the_escalations_state(supervisor_api, escalation):
    detail = supervisor_api.get(f"/api/v1/escalations/{escalation.pk}/").json()
    assert detail["allowed_verbs"] == ["claim", "respond", "dismiss"]

    claimed = act(supervisor_api, escalation, "claim").json()
    assert claimed["allowed_verbs"] == ["release", "respond", "dismiss", "extend"]

    answered = act(supervisor_api, escalation, "respond", {"guidance": "Refund half."}).json()
    assert answered["allowed_verbs"] == []


def test_the_agent_is_offered_withdraw_on_its_own_active_escalation(agent_api, escalation):
    (row,) = agent_api.get("/api/v1/escalations/").json()["results"]
    assert row["allowed_verbs"] == ["withdraw"]

    withdrawn = act(agent_api, escalation, "withdraw").json()
    assert withdrawn["allowed_verbs"] == []


def test_what_is_offered_is_what_the_verb_accepts(supervisor_api, owner_api, escalation):
    act(owner_api, escalation, "claim")

    offered = supervisor_api.get(f"/api/v1/escalations/{escalation.pk}/").json()["allowed_verbs"]

    assert offered == []  # claimed by the owner: a supervisor may neither release nor answer it
    assert act(supervisor_api, escalation, "release").status_code == 403
    assert act(supervisor_api, escalation, "respond", {"guidance": "x"}).status_code == 409


def test_the_agent_may_still_withdraw_an_escalation_a_supervisor_has_claimed(
    agent_api, supervisor_api, escalation
):
    act(supervisor_api, escalation, "claim")

    (row,) = agent_api.get("/api/v1/escalations/").json()["results"]

    assert row["allowed_verbs"] == ["withdraw"]  # was a 500: the claim check read the missing user
    assert act(agent_api, escalation, "withdraw").status_code == 200
