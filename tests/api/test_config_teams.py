"""GET /api/v1/teams/: the caller's teams, each with its labels and the caller's role."""

from agents.models import Label, LabelKind
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/teams/"


def test_a_person_sees_the_teams_they_belong_to_with_labels_and_role(ours, theirs, cora):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds", description="Money back")
    Label.objects.create(team=ours.team, kind=LabelKind.AREA, name="payments")
    Label.objects.create(team=theirs.team, kind=LabelKind.TOPIC, name="lawsuits")
    support = factories.make_team("Support")
    factories.add_member(cora, support, Role.OWNER)
    _, token = user_token_create(user=cora)

    response = token_client(token).get(URL)

    assert response.status_code == 200, response.json()
    rows = response.json()["results"]
    assert [(row["name"], row["role"]) for row in rows] == [("Billing", "contributor"), ("Support", "owner")]
    assert [(label["kind"], label["name"], label["description"]) for label in rows[0]["labels"]] == [
        ("area", "payments", ""),
        ("topic", "refunds", "Money back"),
    ]
    assert rows[1]["labels"] == []


def test_a_supervisor_sees_their_role(supervisor_api, ours, theirs):
    rows = supervisor_api.get(URL).json()["results"]
    assert [(row["id"], row["role"]) for row in rows] == [(ours.team.pk, "supervisor")]


def test_a_superuser_sees_only_teams_they_belong_to(ours):
    _, token = user_token_create(user=factories.make_user("root", superuser=True))
    assert token_client(token).get(URL).json()["results"] == []


def test_an_agent_key_sees_its_own_team(ours, theirs):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")

    response = agent_client(ours.agent_key).get(URL)

    assert response.status_code == 200, response.json()
    ((row,),) = [response.json()["results"]]
    assert (row["id"], row["role"], [label["name"] for label in row["labels"]]) == (
        ours.team.pk,
        "agent",
        ["refunds"],
    )


def test_without_credentials_it_is_401(db):
    from rest_framework.test import APIClient

    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"]


def test_it_is_in_the_schema(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/teams/:" in text
    assert "The caller's role in the team" in text
