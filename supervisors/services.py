"""Writes of the supervisors app that are not escalations: a person's own on-duty state."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from supervisors import presence
from supervisors.models import Membership


def membership_set_on_duty(*, user: AbstractBaseUser, on_duty: bool, team_id: int | None = None) -> list[int]:
    """Put oneself on or off duty in one team (`team_id`) or in all one's teams; returns the team ids."""
    memberships = Membership.objects.filter(user=user)
    if team_id is not None:
        memberships = memberships.filter(team_id=team_id)
        if not memberships.exists():
            raise ValidationError({"team": "You are not a member of this team."})
    team_ids = sorted(memberships.values_list("team_id", flat=True))
    memberships.update(on_duty=on_duty)
    # Whether the teams are covered may have changed with it: their open pages hear it live.
    transaction.on_commit(lambda: presence.announce_coverage(team_ids))
    return team_ids
