"""Reads of escalations and events scoped to who is asking (an agent, or a person by team role)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from agents.models import Agent, Conversation
from escalations.models import Escalation, Event
from supervisors.models import Role
from supervisors.selectors import team_ids_with_role


def escalation_with_relations() -> QuerySet[Escalation]:
    """Everything escalation_payload reads, in one query."""
    return Escalation.objects.select_related(
        "agent", "team", "conversation", "rule", "assigned_to", "claimed_by", "responder"
    )


def escalations_visible_to(*, agent: Agent | None, user: AbstractBaseUser | None) -> QuerySet[Escalation]:
    """An agent sees its own escalations; a person those of the teams they supervise (superusers: all)."""
    queryset = escalation_with_relations()
    if agent is not None:
        return queryset.filter(agent=agent)
    team_ids = team_ids_with_role(user, Role.SUPERVISOR) if user is not None else set()
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)


def events_visible_to(*, agent: Agent | None, user: AbstractBaseUser | None) -> QuerySet[Event]:
    queryset = Event.objects.all()
    if agent is not None:
        return queryset.filter(team_id=agent.team_id, escalation__agent=agent)
    team_ids = team_ids_with_role(user, Role.SUPERVISOR) if user is not None else set()
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)


def events_after(*, user: AbstractBaseUser, after: int, limit: int) -> list[Event]:
    """At most `limit` events after id `after` that `user` may see, oldest first (the console's replay)."""
    return list(events_visible_to(agent=None, user=user).filter(id__gt=after).order_by("id")[:limit])


def conversations_visible_to(*, agent: Agent | None, user: AbstractBaseUser | None) -> QuerySet[Conversation]:
    queryset = Conversation.objects.select_related("agent")
    if agent is not None:
        return queryset.filter(agent=agent)
    team_ids = team_ids_with_role(user, Role.SUPERVISOR) if user is not None else set()
    return queryset if team_ids is None else queryset.filter(agent__team_id__in=team_ids)
