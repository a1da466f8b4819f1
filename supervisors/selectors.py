"""Who may do what in which team. Superusers may do everything everywhere."""

from django.contrib.auth.models import AbstractBaseUser

from escalation_project.request_memo import memoized
from supervisors.models import ROLE_RANK, Membership, Role, Team


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
