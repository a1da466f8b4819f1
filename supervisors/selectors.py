"""Who may do what in which team (superusers may do everything everywhere), and who is there."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser

from escalation_project.request_memo import memoized
from supervisors.models import ROLE_RANK, Membership, Role, Team
from supervisors.presence import uncovered_team_ids


def memberships_of(user: AbstractBaseUser) -> list[Membership]:
    """The user's memberships with their teams, by team name; read once per request.

    A console page asks this from the view, the selectors and the header tag
    (it was three queries per render).
    """
    if not user.is_authenticated:
        return []
    return memoized(
        ("memberships", user.pk),
        lambda: list(Membership.objects.filter(user=user).select_related("team").order_by("team__name")),
    )


def team_ids_with_role(user: AbstractBaseUser, role: Role) -> set[int] | None:
    """Ids of the teams where user has at least `role`; None means all teams (superuser)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return None
    return {m.team_id for m in memberships_of(user) if ROLE_RANK.get(m.role, 0) >= ROLE_RANK[role]}


def has_team_role(user: AbstractBaseUser, team: Team | int, role: Role) -> bool:
    team_id = team if isinstance(team, int) else team.pk
    allowed = team_ids_with_role(user, role)
    return allowed is None or team_id in allowed


def console_team_ids(user: AbstractBaseUser) -> list[int]:
    """The teams whose live events a console socket receives: the user's own (superusers: every team).

    Unlike team_ids_with_role this spells "all" out, since a socket joins one group per team.
    """
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return list(Team.objects.order_by("id").values_list("id", flat=True))
    return sorted({m.team_id for m in memberships_of(user)})


def supervisors_on_duty(team_ids: Iterable[int]) -> dict[int, list[str]]:
    """Per team, the usernames of its active members on duty, sorted: whom "the team's supervisors"
    means when telling people. One query for any number of teams (a timer batch spans several)."""
    found: dict[int, list[str]] = {team_id: [] for team_id in team_ids}
    rows = (
        Membership.objects.filter(team_id__in=list(found), on_duty=True, user__is_active=True)
        .order_by("user__username")
        .values_list("team_id", "user__username")
    )
    for team_id, username in rows:
        found[team_id].append(username)
    return found


def uncovered_teams(team_ids: Iterable[int]) -> list[Team]:
    """Of these teams, those whose agents can escalate but where nobody on duty is online, by name."""
    return list(Team.objects.filter(pk__in=uncovered_team_ids(team_ids)).order_by("name"))
