"""Reads of agents' configuration scoped to the person asking (any role in the team; superusers: all)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from agents.models import Agent
from supervisors.models import Role, Team
from supervisors.selectors import team_ids_with_role


def teams_visible_to(*, user: AbstractBaseUser) -> QuerySet[Team]:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    return Team.objects.all() if team_ids is None else Team.objects.filter(pk__in=team_ids)


def agents_visible_to(*, user: AbstractBaseUser) -> QuerySet[Agent]:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    queryset = Agent.objects.select_related("team", "default_assignee")  # the API shows its username
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)
