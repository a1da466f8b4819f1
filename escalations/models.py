from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Coalesce
from simple_history.models import HistoricalRecords

from agents.models import Agent, Channel, Conversation, EscalationRule
from escalations.choices import (
    SEVERITY_RANK,
    URGENCY_RANK,
    Assignment,
    Severity,
    TimeoutPolicy,
    Urgency,
)
from escalations.team_config import team_config
from supervisors.models import Team


class Status(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"
    WITHDRAWN = "withdrawn", "Withdrawn"


ACTIVE_STATUSES = frozenset({Status.OPEN, Status.CLAIMED})
FINAL_STATUSES = frozenset({Status.RESOLVED, Status.DISMISSED, Status.WITHDRAWN})


class Verb(models.TextChoices):
    CLAIM = "claim"
    RELEASE = "release"
    RESPOND = "respond"
    DISMISS = "dismiss"
    WITHDRAW = "withdraw"
    EXTEND = "extend"  # the claimer renews the claim's lease


# The state machine, written once: verb -> (statuses it may start from, status it leads to).
# Only escalations/transitions.py reads this to change `status` (the verbs call it), and to
# answer `escalations.selectors.allowed_verbs`.
TRANSITIONS: dict[Verb, tuple[frozenset[Status], Status]] = {
    Verb.CLAIM: (frozenset({Status.OPEN}), Status.CLAIMED),
    Verb.RELEASE: (frozenset({Status.CLAIMED}), Status.OPEN),
    Verb.RESPOND: (ACTIVE_STATUSES, Status.RESOLVED),
    Verb.DISMISS: (ACTIVE_STATUSES, Status.DISMISSED),
    Verb.WITHDRAW: (ACTIVE_STATUSES, Status.WITHDRAWN),
    Verb.EXTEND: (frozenset({Status.CLAIMED}), Status.CLAIMED),
}


class Origin(models.TextChoices):
    RULE = "rule", "Rule"
    TOOL_CALL = "tool_call", "Tool call (escalate_to_human)"


def _rank_of(field: str, ranks: dict) -> models.Case:
    return models.Case(
        *[models.When(**{field: value}, then=models.Value(rank)) for value, rank in ranks.items()],
        default=models.Value(0),
    )


# The active rows, which the queue reads: partial indexes stay small as history grows.
# Conditioned on the generated is_active column (see there), not on the statuses.
_ACTIVE = models.Q(is_active=True)
# "Due soonest" puts an escalation without a target last.
NO_DUE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)

# The timers' due work (escalations/timers.py): per timer, the rows that may still fall
# due. Each is both a partial index's condition and the sweep's filter, written once.
# One status per condition, never `status IN (…)`: SQLite uses a partial index for
# `status = ?` but not for an IN list of bound parameters (bench/timers.py checks).
TIMER_CONDITIONS = {
    "claim_expiry": models.Q(status="claimed"),
    "response_breach": models.Q(status="open", response_breached_at__isnull=True),
    "resolution_breach_open": models.Q(status="open", resolution_breached_at__isnull=True),
    "resolution_breach_claimed": models.Q(status="claimed", resolution_breached_at__isnull=True),
    "reminder_open": models.Q(status="open", next_reminder_at__isnull=False),
    "reminder_claimed": models.Q(status="claimed", next_reminder_at__isnull=False),
    "timeout_open": models.Q(status="open", timeout_at__isnull=False),
    "timeout_claimed": models.Q(status="claimed", timeout_at__isnull=False),
    # Claiming stops the climb, so only open rows can be due to go up the ladder.
    "ladder": models.Q(status="open", next_level_at__isnull=False),
}
# The due column of each timer, and its index.
TIMER_DUE_FIELDS = {
    "claim_expiry": "claim_expires_at",
    "response_breach": "response_due_at",
    "resolution_breach_open": "resolution_due_at",
    "resolution_breach_claimed": "resolution_due_at",
    "reminder_open": "next_reminder_at",
    "reminder_claimed": "next_reminder_at",
    "timeout_open": "timeout_at",
    "timeout_claimed": "timeout_at",
    "ladder": "next_level_at",
}
TIMER_INDEXES = {
    "claim_expiry": "esc_due_claim_expiry",
    "response_breach": "esc_due_response_breach",
    "resolution_breach_open": "esc_due_resolution_open",
    "resolution_breach_claimed": "esc_due_resolution_claimed",
    "reminder_open": "esc_due_reminder_open",
    "reminder_claimed": "esc_due_reminder_claimed",
    "timeout_open": "esc_due_timeout_open",
    "timeout_claimed": "esc_due_timeout_claimed",
    "ladder": "esc_due_ladder",
}


# What the insights' aggregates read of each row (supervisors/insights.py): the covering
# index below includes them.
INSIGHT_COLUMNS = [
    "agent",
    "rule",
    "severity",
    "status",
    "needed",
    "responder",
    "claimed_at",
    "closed_at",
    "response_breached_at",
    "resolution_breached_at",
]


class Escalation(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="escalations")
    # Denormalised from agent.team so every queue query scopes by one indexed column.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="escalations")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    rule = models.ForeignKey(
        EscalationRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="escalations"
    )
    # A list of {"source", "rule_id", "rule_name", "text", "message_id", "at"}:
    # what fired, and later triggers on the same conversation appended.
    evidence = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    topic = models.CharField(max_length=100, blank=True)
    area = models.CharField(max_length=100, blank=True)
    blocking = models.BooleanField(
        default=True, help_text="Blocking: the conversation waits for the human's answer."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_escalations",
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="claimed_escalations",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The claim's lease: past it the timers return the escalation to the queue.
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    # Who closed it: the responder, the dismisser (null when the agent withdrew).
    responder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="answered_escalations",
    )
    guidance = models.TextField(blank=True, help_text="The human's answer; the agent resumes with it.")
    closing_note = models.TextField(blank=True, help_text="Why it was dismissed or withdrawn.")
    closed_at = models.DateTimeField(null=True, blank=True)
    # Closed by its timeout policy rather than by a person (the agent is told so).
    closed_automatically = models.BooleanField(default=False)
    timeout_policy = models.CharField(
        max_length=20, choices=TimeoutPolicy.choices, default=TimeoutPolicy.KEEP_WAITING
    )
    # When the policy acts (the resolution due time); null when it keeps waiting.
    timeout_at = models.DateTimeField(null=True, blank=True)
    # Timers: time to claim and time to answer, from the urgency's targets.
    response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    # When the timers found a target passed; set once each (escalations/timers.py).
    response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    # Reminders once a target passed: the last one, and when the next is due (null: none).
    reminded_at = models.DateTimeField(null=True, blank=True)
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    # The team's escalation ladder: the highest level reached (0: none yet), and when the
    # next level is due (null: claimed, closed, or no further level for its urgency).
    level = models.PositiveSmallIntegerField(default=0)
    next_level_at = models.DateTimeField(null=True, blank=True)
    # A supervisor's verdict, for insights and rule tuning: was a human needed here?
    # Null until someone says; changeable, each change audited (services.mark_needed).
    needed = models.BooleanField(null=True, blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    marked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Severity and urgency as numbers the database keeps, so "critical first" is an
    # index scan rather than a sort of every active row (an annotation cannot be indexed).
    severity_rank = models.GeneratedField(
        expression=_rank_of("severity", SEVERITY_RANK),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    urgency_rank = models.GeneratedField(
        expression=_rank_of("urgency", URGENCY_RANK),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    # Open or claimed. The queue filters on this column and its partial indexes are
    # conditioned on it because SQLite uses a partial index only when the query repeats
    # the index's condition word for word: `status IN ('open', 'claimed')` in the index
    # never matched Django's `status IN (?, ?)`, so on SQLite every queue query read all
    # of the team's rows (~200 ms a page at 100,000). A bare boolean column matches.
    is_active = models.GeneratedField(
        expression=models.ExpressionWrapper(
            models.Q(status__in=["open", "claimed"]), output_field=models.BooleanField()
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # The target that runs now: time to claim while open, time to answer once claimed
    # (the queue's Due column). Stored so "due soonest" is an index scan; a Coalesce
    # or Case in the ORDER BY would sort every active row of the team per page.
    queue_due_at = models.GeneratedField(
        expression=Coalesce(
            models.Case(
                models.When(status="claimed", then=models.F("resolution_due_at")),
                default=models.F("response_due_at"),
            ),
            models.Value(NO_DUE),
        ),
        output_field=models.DateTimeField(),
        db_persist=True,
    )

    # The ranks and the due time follow from fields the history keeps; reminders are
    # bookkeeping that the events record.
    history = HistoricalRecords(
        excluded_fields=[
            "updated_at",
            "severity_rank",
            "urgency_rank",
            "is_active",
            "queue_due_at",
            "reminded_at",
            "next_reminder_at",
            "next_level_at",
        ],
        cascade_delete_history=False,
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The queue: a team's active escalations, critical first then oldest, newest
            # first, or due soonest; each a 50-row index scan with 100,000 active rows.
            models.Index(
                fields=["team", "-severity_rank", "created_at"], condition=_ACTIVE, name="esc_queue_severity"
            ),
            models.Index(fields=["team", "-created_at"], condition=_ACTIVE, name="esc_queue_newest"),
            models.Index(fields=["team", "queue_due_at"], condition=_ACTIVE, name="esc_queue_due"),
            # The severity counts and the header's open counts: one index-only GROUP BY.
            models.Index(fields=["team", "status", "severity"], condition=_ACTIVE, name="esc_queue_counts"),
            models.Index(fields=["team", "status", "urgency"], name="esc_queue_urgency"),
            models.Index(fields=["agent", "status"], name="esc_agent_status"),
            models.Index(fields=["claimed_by", "status"], name="esc_claimer_status"),
            # The timers' due work: each index holds only the rows that may still fall due,
            # so a sweep reads the due ones without scanning the active rest.
            *[
                models.Index(
                    fields=[TIMER_DUE_FIELDS[timer], "id"], condition=condition, name=TIMER_INDEXES[timer]
                )
                for timer, condition in TIMER_CONDITIONS.items()
            ],
            # History: closed escalations, newest first.
            models.Index(fields=["team", "closed_at"], name="esc_history"),
            # Insights: a team's escalations opened in a period. On PostgreSQL the columns the
            # aggregates read are included, so a year of rows is an index-only scan rather than
            # a heap visit per row (SQLite ignores `include` and reads the table by rowid).
            models.Index(
                fields=["team", "created_at"],
                include=INSIGHT_COLUMNS,
                name="esc_insights",
            ),
        ]
        constraints = [
            # One open card per conversation; later triggers add evidence to it.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status__in=["open", "claimed"]),
                name="escalation_one_active_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_severity_display()}: {self.reason[:60]}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class EventType(models.TextChoices):
    CREATED = "escalation.created"
    CLAIMED = "escalation.claimed"
    RELEASED = "escalation.released"
    RESOLVED = "escalation.resolved"
    DISMISSED = "escalation.dismissed"
    WITHDRAWN = "escalation.withdrawn"
    UPDATED = "escalation.updated"
    SLA_BREACHED = "escalation.sla_breached"
    REMINDER = "escalation.reminder"
    # Team-level: no escalation (Event.escalation is null), written by webhooks.services.
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    ESCALATED = "escalation.escalated"


class Event(models.Model):
    """The outbox: one row per state change, its id the cursor for replay.

    Ids are handed out in commit order (see escalations.outbox.write_events), so a
    reader that has seen id N has seen every event up to N.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40, choices=EventType.choices)
    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Built once when the event happens; broadcasts and webhooks send it as is.
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["team", "id"], name="event_team_cursor")]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class IdempotencyStatus(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Done"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` an agent sent with a write, and the response it got.

    The row is inserted (the key claimed) before the work starts, so of two
    concurrent requests with one key the unique constraint lets exactly one in.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=200)
    # sha256 of method, path and canonical JSON body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=IdempotencyStatus.choices, default=IdempotencyStatus.IN_FLIGHT
    )
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="idempotency_key_unique_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.agent} · {self.key} ({self.status})"


# --- A team's policy ----------------------------------------------------------------------


class TeamPolicy(models.Model):
    """How a team takes new escalations: whom they are assigned to, and who is emailed about what.

    One row per team, made on first use. Its row is also the lock that makes round
    robin safe under concurrent opens (escalations/assignment.py).
    """

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="policy")
    assignment = models.CharField(
        max_length=20,
        choices=Assignment.choices,
        default=Assignment.NONE,
        help_text="For agents that say neither an assignment nor a default assignee of their own.",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The named supervisor (assignment: a named supervisor).",
    )
    load_limit = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Round robin skips people with this many active escalations (claimed, or open and "
        "assigned to them). Empty: no limit.",
    )
    # Round robin's place: the next pick is the first eligible person after this one.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    # Which events are emailed. Whom each goes to is fixed: see the help texts.
    email_new_critical = models.BooleanField(
        default=True, help_text="A new critical escalation: the team's supervisors on duty, at once."
    )
    email_assigned = models.BooleanField(default=True, help_text="An escalation assigned: its assignee.")
    email_reminders = models.BooleanField(
        default=True, help_text="A reminder: the claimer, or the team's supervisors on duty if unclaimed."
    )
    email_breaches = models.BooleanField(
        default=False,
        help_text="A target passed: the claimer, or the team's supervisors on duty if unclaimed "
        "(off by default: the first reminder comes at the same moment).",
    )
    email_escalated = models.BooleanField(
        default=True, help_text="A ladder level reached: the people that level tells."
    )

    class Meta:
        verbose_name_plural = "team policies"

    def __str__(self) -> str:
        return f"{self.team} policy"

    @classmethod
    def of(cls, team_id: int) -> TeamPolicy:
        """The team's policy, or the defaults (unsaved) when it has none; kept until it changes
        (escalations.team_config): read it, don't change it."""
        return team_config(
            team_id,
            "policy",
            lambda: (
                cls.objects.filter(team_id=team_id).select_related("assignee").first() or cls(team_id=team_id)
            ),
        )

    def clean(self) -> None:
        if self.assignment == Assignment.USER and not self.assignee_id:
            raise ValidationError({"assignee": "Name the supervisor to assign to."})
        if self.assignee_id and not self.team.memberships.filter(user_id=self.assignee_id).exists():
            raise ValidationError({"assignee": "Pick a member of the team."})


# --- The escalation ladder -----------------------------------------------------------------


class LadderLevel(models.Model):
    """One step of a team's escalation ladder: whom to tell when an escalation stays unclaimed this long.

    An open escalation climbs one level at a time (escalations/timers.py): level 1
    `after_minutes` after it opened (or was released), each next level
    `after_minutes` after the previous one. A claim stops the climb; a release
    restarts it from the level reached.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ladder_levels")
    number = models.PositiveSmallIntegerField(help_text="1 is the first level; levels are climbed in order.")
    after_minutes = models.PositiveIntegerField(
        help_text="Minutes unclaimed after the previous level (level 1: after opening or a release; "
        "0 there means at once)."
    )
    min_urgency = models.CharField(
        max_length=10,
        choices=Urgency.choices,
        default=Urgency.LOW,
        help_text="Escalations of a lower urgency stop at the level before this one "
        "(e.g. medium here: low ones never reach it).",
    )
    notify_supervisors = models.BooleanField(default=True, help_text="The team's supervisors on duty.")
    notify_owners = models.BooleanField(default=False, help_text="The team's owners.")
    notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="These people, by name."
    )
    notify_team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Another team whose supervisors on duty are told too.",
    )

    class Meta:
        ordering = ["team_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["team", "number"], name="ladder_one_level_per_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="ladder_number_positive"),
            # A later level at 0 minutes would be climbed again by the very next sweep.
            models.CheckConstraint(
                condition=models.Q(number=1) | models.Q(after_minutes__gte=1), name="ladder_later_levels_wait"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} · level {self.number}"

    def clean(self) -> None:
        if self.number is not None and self.number > 1 and not self.after_minutes:
            raise ValidationError({"after_minutes": "Levels after the first wait at least a minute."})

    def applies_to(self, urgency: str) -> bool:
        return URGENCY_RANK[Urgency(urgency)] >= URGENCY_RANK[Urgency(self.min_urgency)]


# --- Targets and working time ------------------------------------------------------------


class UrgencyTarget(models.Model):
    """For one urgency: time to claim, time to answer, how long a claim lasts, how often to remind.

    A row without a team is the global default; a team's row replaces it for that
    team. Without either, settings.DEFAULT_URGENCY_TARGETS applies, so every
    escalation gets its due times even on a fresh install.
    """

    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="urgency_targets",
        help_text="Empty: the default for every team without its own row for this urgency.",
    )
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    response_minutes = models.PositiveIntegerField(help_text="Time to claim.")
    resolution_minutes = models.PositiveIntegerField(help_text="Time to answer.")
    claim_minutes = models.PositiveIntegerField(
        help_text="How long a claim lasts before it returns to the queue (the claimer can extend it)."
    )
    reminder_minutes = models.PositiveIntegerField(
        help_text="Once a target has passed, remind at most this often."
    )

    class Meta:
        ordering = ["team_id", "urgency"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "urgency"], condition=models.Q(team__isnull=False), name="target_one_per_team"
            ),
            models.UniqueConstraint(
                fields=["urgency"], condition=models.Q(team__isnull=True), name="target_one_default"
            ),
            models.CheckConstraint(
                condition=models.Q(response_minutes__gte=1, resolution_minutes__gte=1)
                & models.Q(claim_minutes__gte=1, reminder_minutes__gte=1),
                name="target_minutes_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team or 'Default'} · {self.get_urgency_display()}"


class BusinessHours(models.Model):
    """A team's working week: when set, response and resolution targets count working time only."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="business_hours")
    time_zone = models.CharField(max_length=64, help_text="IANA name, e.g. Europe/Paris.")

    class Meta:
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return f"{self.team} ({self.time_zone})"

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                {"time_zone": f"{self.time_zone!r} is not a time zone (e.g. Europe/Paris)."}
            ) from None


class Weekday(models.IntegerChoices):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class WorkingPeriod(models.Model):
    business_hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    def clean(self) -> None:
        # A period never crosses midnight (add one on each day instead), so a day's
        # periods are all the working time that day holds.
        if self.opens and self.closes and self.closes != dt.time(0) and self.closes <= self.opens:
            raise ValidationError({"closes": "Closes must be after opens (00:00 for midnight)."})


class Holiday(models.Model):
    business_hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["business_hours", "date"], name="holiday_one_per_date")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()
