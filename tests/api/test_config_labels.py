"""/api/v1/teams/{id}/labels/: a team's topics and areas."""

from agents.models import Label, LabelKind
from tests import factories


def labels_url(team):
    return f"/api/v1/teams/{team.pk}/labels/"


def test_a_contributor_adds_a_label_and_members_list_it(contributor_api, supervisor_api, ours):
    response = contributor_api.post(
        labels_url(ours.team), {"kind": "topic", "name": "refunds"}, format="json"
    )
    assert response.status_code == 201, response.json()
    rows = supervisor_api.get(labels_url(ours.team)).json()["results"]
    assert [(row["kind"], row["name"]) for row in rows] == [("topic", "refunds")]


def test_a_duplicate_is_a_field_error(contributor_api, ours):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    response = contributor_api.post(
        labels_url(ours.team), {"kind": "topic", "name": "refunds"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["name"] == ["This team already has the topic label 'refunds'."]


def test_the_same_name_may_be_a_topic_and_an_area_and_exist_in_another_team(contributor_api, ours, theirs):
    Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    Label.objects.create(team=theirs.team, kind=LabelKind.AREA, name="refunds")
    response = contributor_api.post(labels_url(ours.team), {"kind": "area", "name": "refunds"}, format="json")
    assert response.status_code == 201


def test_a_contributor_deletes_a_label(contributor_api, ours):
    label = Label.objects.create(team=ours.team, kind=LabelKind.AREA, name="eu")
    assert contributor_api.delete(f"{labels_url(ours.team)}{label.pk}/").status_code == 204
    assert not Label.objects.filter(pk=label.pk).exists()


def test_a_supervisor_reads_but_cannot_add_or_delete(supervisor_api, ours):
    label = Label.objects.create(team=ours.team, kind=LabelKind.AREA, name="eu")
    assert supervisor_api.get(labels_url(ours.team)).status_code == 200
    assert supervisor_api.post(labels_url(ours.team), {"kind": "area", "name": "us"}).status_code == 403
    assert supervisor_api.delete(f"{labels_url(ours.team)}{label.pk}/").status_code == 403


def test_another_teams_labels_are_404(contributor_api, theirs):
    label = Label.objects.create(team=theirs.team, kind=LabelKind.AREA, name="eu")
    assert contributor_api.get(labels_url(theirs.team)).status_code == 404
    assert contributor_api.post(labels_url(theirs.team), {"kind": "area", "name": "x"}).status_code == 404
    assert contributor_api.delete(f"{labels_url(theirs.team)}{label.pk}/").status_code == 404
    assert Label.objects.filter(pk=label.pk).exists()


def test_an_agent_key_gets_403(agent_api, ours):
    assert agent_api.get(labels_url(ours.team)).status_code == 403


def test_a_label_still_in_use_is_409_naming_the_users(contributor_api, ours):
    label = Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    ours.agent.default_topic = "refunds"
    ours.agent.save()
    factories.make_rule(ours.agent, topic="refunds")
    response = contributor_api.delete(f"{labels_url(ours.team)}{label.pk}/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "label_in_use"
    assert ours.agent.slug in error["message"] and "Refunds" in error["message"]
    assert Label.objects.filter(pk=label.pk).exists()


def test_a_label_of_the_same_name_in_another_team_does_not_count_as_in_use(contributor_api, ours, theirs):
    label = Label.objects.create(team=ours.team, kind=LabelKind.TOPIC, name="refunds")
    factories.make_rule(theirs.agent, topic="refunds")
    assert contributor_api.delete(f"{labels_url(ours.team)}{label.pk}/").status_code == 204
