"""Reads of escalations and events scoped to who is asking (an agent, or a person by team role)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce

from agents.models import Agent, Conversation
from escalations.choices import Severity
from escalations.models import ACTIVE_STATUSES, FINAL_STATUSES, Escalation, Event
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


def latest_event_id() -> int:
    """The newest event's id: a page rendered after reading it reflects every event up to it."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_after(*, user: AbstractBaseUser, after: int, limit: int) -> list[Event]:
    """At most `limit` events after id `after` that `user` may see, oldest first (the console's replay)."""
    return list(events_visible_to(agent=None, user=user).filter(id__gt=after).order_by("id")[:limit])


def conversations_visible_to(*, agent: Agent | None, user: AbstractBaseUser | None) -> QuerySet[Conversation]:
    queryset = Conversation.objects.select_related("agent")
    if agent is not None:
        return queryset.filter(agent=agent)
    team_ids = team_ids_with_role(user, Role.SUPERVISOR) if user is not None else set()
    return queryset if team_ids is None else queryset.filter(agent__team_id__in=team_ids)


# --- The supervisor console -----------------------------------------------------------

# Sort keys of the queue; each ends with the id so the keyset cursor is unique.
QUEUE_SORTS: dict[str, list[tuple[str, bool]]] = {
    "severity": [("severity_rank", True), ("created_at", False), ("id", False)],  # critical, oldest first
    "newest": [("created_at", True), ("id", True)],
    "due": [("due_sort", False), ("id", False)],
}
HISTORY_KEYS: list[tuple[str, bool]] = [("closed_at", True), ("id", True)]
# No response target sorts last among "due soonest".
_NO_DUE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def console_queue(*, user: AbstractBaseUser) -> QuerySet[Escalation]:
    """The open and claimed escalations of the user's teams, with what the queue's sorts need."""
    # severity_rank is a generated column with a partial index (escalations.models).
    return (
        escalations_visible_to(agent=None, user=user)
        .filter(status__in=ACTIVE_STATUSES)
        .annotate(due_sort=Coalesce("response_due_at", Value(_NO_DUE, output_field=DateTimeField())))
    )


def console_history(*, user: AbstractBaseUser) -> QuerySet[Escalation]:
    """Resolved, dismissed and withdrawn escalations of the user's teams."""
    return escalations_visible_to(agent=None, user=user).filter(status__in=FINAL_STATUSES)


def active_counts_by_severity(*, user: AbstractBaseUser) -> dict[str, int]:
    """One GROUP BY over the user's open and claimed rows (the esc_queue index covers it)."""
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    queryset = Escalation.objects.filter(status__in=ACTIVE_STATUSES)
    if team_ids is not None:
        queryset = queryset.filter(team_id__in=team_ids)
    rows = queryset.order_by().values_list("severity").annotate(n=Count("id"))
    counts = dict.fromkeys(Severity.values, 0)
    counts.update(dict(rows))
    return counts


def history_of(escalation: Escalation) -> QuerySet:
    """The audit rows of one escalation, oldest first, with who acted."""
    return escalation.history.select_related("history_user").order_by("history_date", "history_id")
