"""/api/v1/agents/: list, retrieve, create and PATCH, scoped to the caller's teams."""

import pytest
from django.core.management import call_command

from agents.models import Agent, Label, LabelKind
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/agents/"


def new_agent(team, **extra):
    return {
        "team": team.pk,
        "name": "Refund Bot",
        "slug": "refund-bot",
        "description": "Handles refunds.",
        **extra,
    }


def test_a_member_lists_only_their_teams_agents(supervisor_api, ours, theirs):
    response = supervisor_api.get(URL)
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()["results"]] == [ours.agent.slug]


def test_another_teams_agent_is_404(supervisor_api, theirs):
    response = supervisor_api.get(f"{URL}{theirs.agent.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_supervisor_reads_an_agent_with_its_rules_version(supervisor_api, ours):
    body = supervisor_api.get(f"{URL}{ours.agent.pk}/").json()
    assert body["team"] == ours.team.pk
    assert body["rules_version"] == 1


def test_an_agent_key_gets_403(agent_api, ours):
    assert agent_api.get(URL).status_code == 403
    assert agent_api.get(f"{URL}{ours.agent.pk}/").status_code == 403


def test_a_contributor_creates_an_agent_with_history_naming_them(contributor_api, cora, ours):
    response = contributor_api.post(URL, new_agent(ours.team), format="json")
    assert response.status_code == 201, response.json()
    agent = Agent.objects.get(slug="refund-bot")
    assert response.json()["id"] == agent.pk
    record = agent.history.get()
    assert (record.history_user, record.history_change_reason) == (cora, "API: created")


def test_a_supervisor_cannot_create_an_agent(supervisor_api, ours):
    response = supervisor_api.post(URL, new_agent(ours.team), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["team"] == ["Pick a team where you are a contributor or owner."]
    assert not Agent.objects.filter(slug="refund-bot").exists()


def test_creating_in_another_team_reads_like_an_unknown_team(contributor_api, theirs):
    other = contributor_api.post(URL, new_agent(theirs.team), format="json")
    missing = contributor_api.post(URL, {**new_agent(theirs.team), "team": 999_999}, format="json")
    assert other.status_code == missing.status_code == 400
    assert other.json() == missing.json()


def test_an_unknown_label_is_a_field_error_listing_the_allowed_ones(contributor_api, ours):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="invoices")
    response = contributor_api.post(URL, new_agent(ours.team, default_topic="weather"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["default_topic"] == [
        "Unknown topic 'weather'. Allowed: invoices, refunds."
    ]


def test_a_taken_slug_is_a_field_error(contributor_api, ours):
    response = contributor_api.post(URL, new_agent(ours.team, slug=ours.agent.slug), format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["error"]["fields"]


def test_the_default_assignee_must_belong_to_the_team(contributor_api, ours, theirs):
    response = contributor_api.post(
        URL, new_agent(ours.team, default_assignee=theirs.supervisor.pk), format="json"
    )
    assert response.status_code == 400
    assert "default_assignee" in response.json()["error"]["fields"]


def test_patch_changes_fields_and_records_which_in_history(contributor_api, cora, ours):
    response = contributor_api.patch(
        f"{URL}{ours.agent.pk}/",
        {"escalation_enabled": False, "default_severity": "critical"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    ours.agent.refresh_from_db()
    assert (ours.agent.escalation_enabled, ours.agent.default_severity) == (False, "critical")
    record = ours.agent.history.first()
    assert record.history_user == cora
    assert record.history_change_reason == "API: changed escalation_enabled, default_severity"


def test_patch_keeps_a_rules_version_bumped_meanwhile(contributor_api, ours):
    # The PATCH writes only its own fields, so it cannot undo a concurrent rule edit's bump.
    Agent.objects.filter(pk=ours.agent.pk).update(rules_version=7)
    contributor_api.patch(f"{URL}{ours.agent.pk}/", {"name": "Billing Bot 2"}, format="json")
    ours.agent.refresh_from_db()
    assert (ours.agent.name, ours.agent.rules_version) == ("Billing Bot 2", 7)


def test_team_and_slug_cannot_be_changed(contributor_api, ours, theirs):
    response = contributor_api.patch(
        f"{URL}{ours.agent.pk}/", {"team": theirs.team.pk, "slug": "moved"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"team", "slug"}


def test_a_supervisor_gets_403_on_patch(supervisor_api, ours):
    response = supervisor_api.patch(f"{URL}{ours.agent.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_contributor_of_another_team_gets_404_on_patch(theirs, ours):
    other = factories.make_user("carl")
    factories.add_member(other, theirs.team, Role.OWNER)
    _, token = user_token_create(user=other)
    response = token_client(token).patch(f"{URL}{ours.agent.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 404


def test_there_is_no_delete_over_the_api(contributor_api, ours):
    response = contributor_api.delete(f"{URL}{ours.agent.pk}/")
    assert response.status_code == 405
    assert Agent.objects.filter(pk=ours.agent.pk).exists()


def test_a_superuser_sees_every_team(ours, theirs):
    _, token = user_token_create(user=factories.make_user("root", superuser=True))
    rows = token_client(token).get(URL).json()["results"]
    assert {row["slug"] for row in rows} == {ours.agent.slug, theirs.agent.slug}


def test_an_agent_key_cannot_create(ours):
    response = agent_client(ours.agent_key).post(URL, new_agent(ours.team), format="json")
    assert response.status_code == 403


def test_the_schema_generates_without_warnings(db, tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    for path in [
        "/api/v1/agents/{agent_id}/evaluate/:",
        "/api/v1/agents/{agent_id}/rules/{rule_id}/:",
        "/api/v1/agents/{agent_id}/rule-tests/run/:",
        "/api/v1/teams/{team_id}/labels/:",
    ]:
        assert path in text


def test_history_names_the_assignee_field_as_the_api_does(contributor_api, cora, ours):
    response = contributor_api.patch(f"{URL}{ours.agent.pk}/", {"default_assignee": cora.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["default_assignee"] == "cora"  # an id is still accepted; a name comes back
    assert ours.agent.history.first().history_change_reason == "API: changed default_assignee"


def test_the_default_assignee_is_given_and_shown_as_a_username(contributor_api, cora, ours):
    page = f"{URL}{ours.agent.pk}/"

    response = contributor_api.patch(page, {"default_assignee": "cora"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["default_assignee"] == "cora"
    ours.agent.refresh_from_db()
    assert ours.agent.default_assignee == cora
    assert contributor_api.get(URL).json()["results"][0]["default_assignee"] == "cora"
    cleared = contributor_api.patch(page, {"default_assignee": None}, format="json")
    assert cleared.json()["default_assignee"] is None


def test_an_unknown_username_reads_like_another_teams_member(contributor_api, ours, theirs):
    page = f"{URL}{ours.agent.pk}/"

    unknown = contributor_api.patch(page, {"default_assignee": "nobody"}, format="json")
    elsewhere = contributor_api.patch(page, {"default_assignee": theirs.supervisor.username}, format="json")

    assert unknown.status_code == elsewhere.status_code == 400
    assert unknown.json()["error"]["fields"] == elsewhere.json()["error"]["fields"]
    assert unknown.json()["error"]["fields"]["default_assignee"] == ["Pick a member of the agent's team."]


@pytest.mark.parametrize("value", [True, "", 1.5, ["cora"]])
def test_a_default_assignee_of_another_type_is_a_field_error(contributor_api, ours, value):
    response = contributor_api.patch(f"{URL}{ours.agent.pk}/", {"default_assignee": value}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]["default_assignee"][0]


def test_an_agent_asks_for_round_robin_and_cannot_name_an_assignee_as_well(contributor_api, cora, ours):
    page = f"{URL}{ours.agent.pk}/"
    response = contributor_api.patch(page, {"assignment": "round_robin"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["assignment"] == "round_robin"

    refused = contributor_api.patch(page, {"default_assignee": cora.pk}, format="json")

    assert refused.status_code == 400
    assert "default_assignee" in refused.json()["error"]["fields"]
    bad = contributor_api.patch(page, {"assignment": "everyone"}, format="json")
    assert bad.status_code == 400
    assert "assignment" in bad.json()["error"]["fields"]
