"""/teams/{id}/ladder/: members read the team's escalation ladder, owners replace it."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from escalations import team_settings
from escalations.models import LadderLevel
from supervisors.models import Role
from tests import factories
from tests.api.conftest import agent_client


def url(team):
    return f"/api/v1/teams/{team.pk}/ladder/"


LADDER = {
    "levels": [
        {"after_minutes": 5},
        {"after_minutes": 30, "min_urgency": "medium", "notify_supervisors": False, "notify_owners": True},
    ]
}


def test_an_owner_sets_the_ladder_and_members_read_it(owner_api, supervisor_api, ours, theirs):
    factories.add_member(factories.make_user("mia"), ours.team, Role.SUPERVISOR)
    ladder = {
        "levels": [
            *LADDER["levels"],
            {"after_minutes": 60, "notify_users": ["mia"], "notify_team": theirs.team.pk},
        ]
    }

    response = owner_api.put(url(ours.team), ladder, format="json")

    assert response.status_code == 200
    read = supervisor_api.get(url(ours.team)).json()
    assert read == response.json()
    assert read["levels"] == [
        {
            "number": 1,
            "after_minutes": 5,
            "min_urgency": "low",
            "notify_supervisors": True,
            "notify_owners": False,
            "notify_users": [],
            "notify_team": None,
        },
        {
            "number": 2,
            "after_minutes": 30,
            "min_urgency": "medium",
            "notify_supervisors": False,
            "notify_owners": True,
            "notify_users": [],
            "notify_team": None,
        },
        {
            "number": 3,
            "after_minutes": 60,
            "min_urgency": "low",
            "notify_supervisors": True,
            "notify_owners": False,
            "notify_users": ["mia"],
            "notify_team": theirs.team.pk,
        },
    ]
    level = LadderLevel.objects.get(team=ours.team, number=3)
    assert [user.username for user in level.notify_users.all()] == ["mia"]


def test_a_put_replaces_the_whole_ladder_and_an_empty_one_removes_it(owner_api, ours):
    owner_api.put(url(ours.team), LADDER, format="json")

    assert (
        owner_api.put(url(ours.team), {"levels": [{"after_minutes": 10}]}, format="json").status_code == 200
    )
    assert list(LadderLevel.objects.filter(team=ours.team).values_list("number", "after_minutes")) == [
        (1, 10)
    ]

    assert owner_api.put(url(ours.team), {"levels": []}, format="json").json() == {"levels": []}
    assert not LadderLevel.objects.filter(team=ours.team).exists()


@pytest.mark.parametrize(
    ("levels", "field", "words"),
    [
        ([{"after_minutes": 5}, {"after_minutes": 0}], "levels[1].after_minutes", "at least a minute"),
        ([{}], "levels[0].after_minutes", "required"),
        ([{"after_minutes": -1}], "levels[0].after_minutes", "greater than or equal to 0"),
        ([{"after_minutes": 5, "min_urgency": "asap"}], "levels[0].min_urgency", "not a valid choice"),
        ([{"after_minutes": 5, "notify_users": ["nobody"]}], "levels[0].notify_users", "nobody"),
        ([{"after_minutes": 5, "notify_team": 999999}], "levels[0].notify_team", "no team 999999"),
    ],
)
def test_a_bad_level_is_a_400_naming_the_level_and_field_and_changes_nothing(
    owner_api, ours, levels, field, words
):
    owner_api.put(url(ours.team), LADDER, format="json")

    response = owner_api.put(url(ours.team), {"levels": levels}, format="json")

    assert response.status_code == 400
    assert words in " ".join(response.json()["error"]["fields"][field])
    assert LadderLevel.objects.filter(team=ours.team).count() == 2


def test_the_ladder_must_be_a_list(owner_api, ours):
    for body in ({}, {"levels": "5 then 30"}):
        response = owner_api.put(url(ours.team), body, format="json")
        assert response.status_code == 400
        assert "levels" in response.json()["error"]["fields"]


def test_the_teams_own_supervisors_may_not_notify_their_team_as_another(owner_api, ours):
    response = owner_api.put(
        url(ours.team), {"levels": [{"after_minutes": 5, "notify_team": ours.team.pk}]}, format="json"
    )

    assert response.status_code == 400
    assert "levels[0].notify_team" in response.json()["error"]["fields"]


def test_supervisors_may_not_change_it_other_teams_are_404_and_agents_403(supervisor_api, ours, theirs):
    assert supervisor_api.put(url(ours.team), LADDER, format="json").status_code == 403
    assert supervisor_api.get(url(theirs.team)).status_code == 404
    assert agent_client(ours.agent_key).get(url(ours.team)).status_code == 403
    assert not LadderLevel.objects.exists()


def test_the_schema_describes_it(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {"get", "put"} <= set(schema["paths"]["/api/v1/teams/{team_id}/ladder/"])


def test_a_user_outside_the_team_is_refused_in_the_words_used_for_a_name_nobody_has(owner_api, ours, theirs):
    """Naming otto (Legal) must not tell Billing's owner that otto has an account here."""
    owner_api.put(url(ours.team), LADDER, format="json")

    def refusal(name: str) -> list[str]:
        body = {"levels": [{"after_minutes": 5, "notify_users": [name]}]}
        response = owner_api.put(url(ours.team), body, format="json")
        assert response.status_code == 400
        return response.json()["error"]["fields"]["levels[0].notify_users"]

    assert refusal("otto") == ["No active user named otto."]
    assert refusal("nobody") == ["No active user named nobody."]
    assert LadderLevel.objects.filter(team=ours.team).count() == 2  # unchanged


def test_the_service_refuses_a_user_outside_the_team_too(ours, theirs):
    with pytest.raises(ValidationError, match="No active user named otto"):
        team_settings.ladder_set(
            team_id=ours.team.pk, levels=[{"after_minutes": 5, "notify_users": [theirs.supervisor]}]
        )

    assert not LadderLevel.objects.exists()
