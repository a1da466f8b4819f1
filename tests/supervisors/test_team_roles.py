from supervisors.models import Role
from supervisors.selectors import has_team_role, team_ids_with_role
from tests import factories


def test_a_role_check_outside_a_request_sees_a_membership_added_since(ana, outsider):
    # Memberships are read once per request (escalation_project.request_memo); outside one, every time.
    legal = outsider.teams.get()
    assert not has_team_role(ana, legal, Role.SUPERVISOR)

    factories.add_member(ana, legal, Role.OWNER)

    assert has_team_role(ana, legal, Role.OWNER)


def test_roles_are_cumulative(ana, olga, team):
    assert team_ids_with_role(olga, Role.OWNER) == {team.pk}
    assert team_ids_with_role(olga, Role.SUPERVISOR) == {team.pk}
    assert team_ids_with_role(ana, Role.SUPERVISOR) == {team.pk}
    assert team_ids_with_role(ana, Role.CONTRIBUTOR) == set()
