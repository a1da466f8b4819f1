"""Who may do what in which team. Superusers may do everything everywhere."""

from django.contrib.auth.models import AbstractBaseUser

from supervisors.models import ROLE_RANK, Membership, Role, Team


def team_ids_with_role(user: AbstractBaseUser, role: Role) -> set[int] | None:
    """Ids of the teams where user has at least `role`; None means all teams (superuser)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return None
    allowed = {name for name, rank in ROLE_RANK.items() if rank >= ROLE_RANK[role]}
    return set(Membership.objects.filter(user=user, role__in=allowed).values_list("team_id", flat=True))


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
    return sorted(set(Membership.objects.filter(user=user).values_list("team_id", flat=True)))
