"""On duty and coverage: which teams have nobody on duty with a console open, and one's own toggle."""

import pytest
from django.urls import reverse

from supervisors.models import Membership, Role
from supervisors.presence import presence_join
from supervisors.selectors import uncovered_teams
from tests import factories


def online(team, *users):
    for user in users:
        presence_join(team_ids=[team.pk], user_id=user.pk, connection_id=f"tab-{user.pk}")


def names(teams):
    return [team.name for team in teams]


@pytest.fixture
def legal(db):
    team = factories.make_team("Legal")
    factories.make_agent(team, "Legal Bot")
    return team


def test_a_team_whose_agents_can_escalate_with_nobody_online_is_uncovered(team, agent, ana, legal):
    assert names(uncovered_teams([team.pk, legal.pk])) == ["Billing", "Legal"]


def test_one_supervisor_on_duty_and_online_covers_the_team(team, agent, ana, bob, legal):
    online(team, ana)

    assert names(uncovered_teams([team.pk, legal.pk])) == ["Legal"]


def test_someone_online_but_off_duty_does_not_cover_it(team, agent, ana):
    Membership.objects.filter(user=ana).update(on_duty=False)
    online(team, ana)

    assert names(uncovered_teams([team.pk])) == ["Billing"]


def test_someone_on_duty_online_for_another_team_only_does_not_cover_it(team, agent, ana, legal):
    online(legal, ana)

    assert names(uncovered_teams([team.pk])) == ["Billing"]


def test_a_team_whose_agents_cannot_escalate_needs_no_cover(team, ana):
    factories.make_agent(team, "Quiet Bot", escalation_enabled=False)

    assert uncovered_teams([team.pk]) == []


def test_only_the_teams_asked_about_are_answered(team, agent, legal):
    assert names(uncovered_teams([legal.pk])) == ["Legal"]


def test_the_admin_team_list_shows_which_teams_are_covered(admin_client, team, agent, ana, legal):
    online(team, ana)

    page = admin_client.get(reverse("admin:supervisors_team_changelist")).content.decode()

    assert page.count('alt="True"') == 1 and page.count('alt="False"') == 1
    assert "Covered" in page


# --- The toggle ---------------------------------------------------------------------------


def test_a_supervisor_goes_off_duty_in_all_their_teams_and_back(client, team, ana, legal):
    factories.add_member(ana, legal, Role.SUPERVISOR)
    client.force_login(ana)

    response = client.post(reverse("console:on_duty"), {"on_duty": "false"})

    assert response.status_code == 302 and response.url == reverse("console:queue")
    assert set(Membership.objects.filter(user=ana).values_list("on_duty", flat=True)) == {False}
    client.post(reverse("console:on_duty"), {"on_duty": "true", "team": team.pk})
    assert dict(Membership.objects.filter(user=ana).values_list("team__name", "on_duty")) == {
        "Billing": True,
        "Legal": False,
    }


def test_the_toggle_returns_to_the_page_it_came_from_on_this_site_only(client, ana):
    client.force_login(ana)
    history = reverse("console:history")

    back = client.post(reverse("console:on_duty"), {"on_duty": "false", "next": history})
    away = client.post(reverse("console:on_duty"), {"on_duty": "false", "next": "https://evil.example/"})

    assert back.url == history
    assert away.url == reverse("console:queue")


def test_bad_input_gets_field_messages(client, ana, legal):
    client.force_login(ana)

    bad_value = client.post(reverse("console:on_duty"), {"on_duty": "maybe"})
    not_mine = client.post(reverse("console:on_duty"), {"on_duty": "false", "team": legal.pk})

    assert bad_value.status_code == 400 and "on_duty" in bad_value.json()["errors"]
    assert not_mine.status_code == 400
    assert not_mine.json()["errors"] == {"team": ["You are not a member of this team."]}
    assert Membership.objects.get(user=ana).on_duty is True


def test_the_toggle_takes_a_logged_in_post_only(client, ana):
    assert client.post(reverse("console:on_duty"), {"on_duty": "false"}).status_code == 302  # to login
    client.force_login(ana)
    assert client.get(reverse("console:on_duty")).status_code == 405
    assert Membership.objects.get(user=ana).on_duty is True
