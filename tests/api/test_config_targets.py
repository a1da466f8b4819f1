"""/teams/{id}/targets/: members read the targets in force, owners set and reset their team's."""

from escalations.models import UrgencyTarget
from tests.api.conftest import agent_client

BODY = {"response_minutes": 5, "resolution_minutes": 30, "claim_minutes": 10, "reminder_minutes": 5}


def url(team, urgency=None):
    return f"/api/v1/teams/{team.pk}/targets/" + (f"{urgency}/" if urgency else "")


def test_a_member_reads_the_built_in_targets_high_first(supervisor_api, ours):
    response = supervisor_api.get(url(ours.team))

    assert response.status_code == 200
    assert response.json()[0] == {
        "urgency": "high",
        "response_minutes": 15,
        "resolution_minutes": 60,
        "claim_minutes": 15,
        "reminder_minutes": 15,
        "source": "built-in",
    }
    assert [row["urgency"] for row in response.json()] == ["high", "medium", "low"]


def test_an_owner_sets_the_teams_own_targets_and_resets_them(owner_api, ours):
    UrgencyTarget.objects.create(
        team=None,
        urgency="high",
        response_minutes=20,
        resolution_minutes=90,
        claim_minutes=20,
        reminder_minutes=20,
    )

    put = owner_api.put(url(ours.team, "high"), BODY, format="json")
    assert put.status_code == 200
    assert put.json() == {"urgency": "high", **BODY, "source": "team"}
    assert (
        owner_api.put(url(ours.team, "high"), {**BODY, "claim_minutes": 12}, format="json").status_code == 200
    )
    assert UrgencyTarget.objects.get(team=ours.team).claim_minutes == 12

    deleted = owner_api.delete(url(ours.team, "high"))

    assert deleted.status_code == 204
    assert owner_api.get(url(ours.team)).json()[0]["source"] == "default"


def test_bad_minutes_are_field_errors(owner_api, ours):
    response = owner_api.put(
        url(ours.team, "high"), {**BODY, "response_minutes": 0, "claim_minutes": "x"}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"response_minutes", "claim_minutes"}
    assert not UrgencyTarget.objects.exists()


def test_an_unknown_urgency_is_a_field_error(owner_api, ours):
    response = owner_api.put(url(ours.team, "asap"), BODY, format="json")

    assert response.status_code == 400
    assert "urgency" in response.json()["error"]["fields"]


def test_a_supervisor_or_contributor_cannot_change_the_targets(supervisor_api, contributor_api, ours):
    for client in (supervisor_api, contributor_api):
        assert client.put(url(ours.team, "high"), BODY, format="json").status_code == 403
        assert client.delete(url(ours.team, "high")).status_code == 403
    assert not UrgencyTarget.objects.exists()


def test_another_teams_targets_are_not_found(supervisor_api, theirs):
    assert supervisor_api.get(url(theirs.team)).status_code == 404


def test_an_agent_key_cannot_read_the_targets(ours):
    assert agent_client(ours.agent_key).get(url(ours.team)).status_code == 403
