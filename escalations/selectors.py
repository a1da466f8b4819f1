"""Reads of escalations and events scoped to who is asking (an agent, or a person by team role)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models import Count, QuerySet

from agents.models import Agent, Conversation
from escalation_project.request_memo import memoized
from escalations import transitions
from escalations.choices import Severity
from escalations.models import FINAL_STATUSES, Escalation, Event, Verb
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


def allowed_verbs(
    escalation: Escalation, user: AbstractBaseUser | None = None, *, agent: Agent | None = None
) -> list[Verb]:
    """The verbs this person (or agent) may apply to the escalation now: the buttons the console
    shows, the admin's actions and the API's `allowed_verbs`. The rules are the verbs' own
    (escalations.transitions.refusal), so what is offered is what the services accept."""
    return [verb for verb in Verb if transitions.refusal(escalation, verb, user=user, agent=agent) is None]


def events_visible_to(*, agent: Agent | None, user: AbstractBaseUser | None) -> QuerySet[Event]:
    queryset = Event.objects.all()
    if agent is not None:
        return queryset.filter(team_id=agent.team_id, escalation__agent=agent)
    team_ids = team_ids_with_role(user, Role.SUPERVISOR) if user is not None else set()
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)


def latest_event_id() -> int:
    """The newest event's id: a page rendered after reading it reflects every event up to it.

    Read once per request: the live marker and the counts' cache key are the same id.
    """
    return memoized(
        ("latest_event_id",), lambda: Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    )


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
# Each has a partial index on the active rows (escalations.models), so a page is a 50-row index scan.
QUEUE_SORTS: dict[str, list[tuple[str, bool]]] = {
    "severity": [("severity_rank", True), ("created_at", False), ("id", False)],  # critical, oldest first
    "newest": [("created_at", True), ("id", True)],
    "due": [("queue_due_at", False), ("id", False)],
}
HISTORY_KEYS: list[tuple[str, bool]] = [("closed_at", True), ("id", True)]


QUEUE_ROW_FIELDS = [
    "team_id", "agent_id", "claimed_by_id", "assigned_to_id",
    "severity", "urgency", "status", "reason", "channel", "topic", "area", "level", "blocking",
    "created_at",
    "severity_rank", "queue_due_at",  # sort keys; queue_due_at is also the Due column
    "agent__name", "team__name", "team__slug",
    "claimed_by__username", "assigned_to__username",
]  # fmt: skip


def console_queue(*, user: AbstractBaseUser) -> QuerySet[Escalation]:
    """The open and claimed escalations of the user's teams, with what a queue row shows."""
    # Only the relations a row shows: the seven-relation join of escalation_with_relations
    # took longer to plan than to run. The long texts and the evidence stay unread too.
    # And only the columns a row shows or sorts by: an escalation and its four relations
    # carry some twenty timestamps, and parsing the unused ones cost more than the query.
    queryset = (
        Escalation.objects.select_related("agent", "team", "claimed_by", "assigned_to")
        .only(*QUEUE_ROW_FIELDS)
        .filter(is_active=True)  # what the queue's partial indexes are conditioned on
    )
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    return queryset if team_ids is None else queryset.filter(team_id__in=team_ids)


def console_history(*, user: AbstractBaseUser) -> QuerySet[Escalation]:
    """Resolved, dismissed and withdrawn escalations of the user's teams."""
    return escalations_visible_to(agent=None, user=user).filter(status__in=FINAL_STATUSES)


# Shared by every viewer until the next event; an event-less change (a bulk import) shows
# within this many seconds.
ACTIVE_COUNTS_CACHE_SECONDS = 60


def active_counts(*, user: AbstractBaseUser) -> dict[tuple[int, str, str], int]:
    """Open and claimed escalations of the user's teams by (team id, status, severity).

    Every team's counts come from one GROUP BY that PostgreSQL answers from the
    esc_queue_counts index alone (an index-only scan, ~9 ms for 90,000 rows), cached
    under the newest event id: every change to an escalation's status or severity
    writes an event, so the counts as of an event id never change, and all the
    consoles refreshing after one event share one count. Read once per request,
    since the queue's severity counts and the header's open count both come from it.
    """

    def read() -> dict[tuple[int, str, str], int]:
        every_team = active_counts_every_team()
        team_ids = team_ids_with_role(user, Role.SUPERVISOR)
        if team_ids is None:
            return every_team
        return {key: n for key, n in every_team.items() if key[0] in team_ids}

    return memoized(("active_counts", user.pk), read)


def active_counts_every_team() -> dict[tuple[int, str, str], int]:
    """Every team's open and claimed escalations by (team id, status, severity); see active_counts."""
    key = f"active-counts:{latest_event_id()}"
    every_team = cache.get(key)
    if every_team is None:
        rows = (
            Escalation.objects.filter(is_active=True)
            .order_by()
            .values_list("team_id", "status", "severity")
            .annotate(n=Count("*"))
        )
        every_team = {(team_id, status, severity): n for team_id, status, severity, n in rows}
        cache.set(key, every_team, ACTIVE_COUNTS_CACHE_SECONDS)
    return every_team


def active_counts_by_severity(*, user: AbstractBaseUser) -> dict[str, int]:
    counts = dict.fromkeys(Severity.values, 0)
    for (_, _, severity), n in active_counts(user=user).items():
        counts[severity] = counts.get(severity, 0) + n
    return counts


def unanswered_count(*, user: AbstractBaseUser) -> int:
    """The console's one count of waiting work: escalations of the user's teams (superusers: every
    team) nobody has answered yet, open or claimed. The rows the queue lists unfiltered.

    The header and the queue both print this number, labelled "unanswered" (they once
    counted "open" and "waiting" apart, and disagreed by the claimed ones).
    """
    return sum(active_counts(user=user).values())


def history_of(escalation: Escalation) -> QuerySet:
    """The audit rows of one escalation, oldest first, with who acted."""
    return escalation.history.select_related("history_user").order_by("history_date", "history_id")
