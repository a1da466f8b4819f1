"""The team page's ladder names only the team's own members (issue 14, item 14).

Offering every user of the instance listed other teams' people, names and emails, to a
team owner; a superuser editing a team gets the same choices, so a ladder saved in the
admin never names someone outside the team.
"""

import pytest
from django.urls import reverse

from escalations.models import LadderLevel
from supervisors.models import Role
from tests import factories
from tests.supervisors.conftest import team_page_form


@pytest.fixture
def teams(db):
    """olga owns Billing (with ana) and Legal (with otto); zed is in no team."""
    billing, legal = factories.make_team("Billing"), factories.make_team("Legal")
    olga = factories.make_user("olga", is_staff=True)
    factories.add_member(olga, billing, Role.OWNER)
    factories.add_member(olga, legal, Role.OWNER)
    ana, otto = factories.make_user("ana"), factories.make_user("otto")
    factories.add_member(ana, billing, Role.SUPERVISOR)
    factories.add_member(otto, legal, Role.SUPERVISOR)
    factories.make_user("zed")
    return billing, olga, ana, otto


def ladder_choices(client, team) -> list[str]:
    page = client.get(reverse("admin:supervisors_team_change", args=[team.pk]))
    assert page.status_code == 200
    (ladder,) = [f for f in page.context["inline_admin_formsets"] if f.formset.model is LadderLevel]
    return [user.username for user in ladder.formset.form.base_fields["notify_users"].queryset]


def test_an_owner_of_two_teams_is_offered_only_the_edited_teams_members(client, teams):
    billing, olga, _, _ = teams
    client.force_login(olga)

    assert ladder_choices(client, billing) == ["ana", "olga"]


def test_a_superuser_is_offered_only_the_edited_teams_members_too(client, teams):
    billing, *_ = teams
    client.force_login(factories.make_user("root", superuser=True))

    assert ladder_choices(client, billing) == ["ana", "olga"]


def test_a_forged_post_naming_someone_outside_the_team_is_refused_and_saves_nothing(client, teams):
    billing, olga, _, otto = teams
    client.force_login(olga)
    form = team_page_form(
        billing,
        **{
            "ladder_levels-TOTAL_FORMS": "1",
            "ladder_levels-0-number": "1",
            "ladder_levels-0-after_minutes": "5",
            "ladder_levels-0-min_urgency": "low",
            "ladder_levels-0-notify_users": [otto.pk],
        },
    )

    response = client.post(reverse("admin:supervisors_team_change", args=[billing.pk]), form)

    assert response.status_code == 200
    refusal = f"Select a valid choice. {otto.pk} is not one of the available choices."
    assert refusal in response.content.decode()
    assert not LadderLevel.objects.exists()
