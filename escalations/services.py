"""The escalation state machine: the only code that writes Escalation.status.

Every verb runs in one transaction:
1. lock the row (select_for_update; on SQLite the IMMEDIATE transaction
   already holds the database's write lock) and check the transition against
   TRANSITIONS, so of two racing supervisors exactly one wins;
2. save the row with the acting user and a reason set, which writes exactly
   one django-simple-history row (the audit);
3. append an Event (the outbox), last, under a lock that makes event ids
   commit in order;
4. transaction.on_commit -> broadcast to the team's channel group, and one
   webhook Delivery row per subscribed endpoint, enqueued on commit;
5. the metrics it moves (escalation_project/metrics.py), counted on commit.
A refused action raises a domain error whose message a person can read.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from agents.models import Agent, Conversation, ConversationStatus, EscalationRule, Label, LabelKind
from escalation_project import metrics
from escalation_project.redis_client import guarded
from escalation_project.sqlite_retry import retry_if_busy
from escalations import assignment, broadcast
from escalations.choices import (
    DEFAULT_URGENCY_FOR_SEVERITY,
    SEVERITY_RANK,
    URGENCY_RANK,
    Severity,
    TimeoutPolicy,
    Urgency,
)
from escalations.models import (
    ACTIVE_STATUSES,
    TRANSITIONS,
    Escalation,
    Event,
    EventType,
    LadderLevel,
    Origin,
    Status,
    TeamPolicy,
    UrgencyTarget,
    Verb,
)
from escalations.payloads import escalation_payload
from escalations.targets import due_times, targets_for
from escalations.team_config import team_config
from supervisors.models import Membership, Role
from supervisors.selectors import has_team_role, supervisors_on_duty
from webhooks.services import deliveries_for_events

logger = logging.getLogger(__name__)

# --- Errors ---------------------------------------------------------------------


class EscalationError(Exception):
    """A refused action. `code` is for machines, the message for people."""

    code = "refused"

    def __init__(self, message: str, *, escalation: Escalation | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.escalation = escalation
        if code:
            self.code = code


class TransitionRefused(EscalationError):
    """The escalation is not in a state that allows this (HTTP 409).

    `code` says why: already_resolved, already_dismissed, already_withdrawn,
    already_claimed, claimed_by_another or not_claimed.
    """

    code = "conflict"


class NotAllowed(EscalationError):
    """This user or agent may not do this to this escalation (HTTP 403)."""

    code = "forbidden"


class EscalationDisabled(EscalationError):
    code = "escalation_disabled"


# --- Opening ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenResult:
    escalation: Escalation
    created: bool  # False: evidence was added to the conversation's open escalation


@retry_if_busy
def open_escalation(
    *,
    conversation: Conversation,
    origin: Origin,
    reason: str,
    severity: Severity | str | None = None,
    urgency: Urgency | str | None = None,
    topic: str = "",
    area: str = "",
    blocking: bool = True,
    timeout_policy: TimeoutPolicy | str | None = None,
    rule: EscalationRule | None = None,
    evidence: list[dict[str, Any]] | None = None,
    user: AbstractBaseUser | None = None,
) -> OpenResult:
    """Open an escalation on a conversation, or add to the one already open there.

    Missing severity, urgency, topic and area come from the rule, then the agent's
    defaults; urgency last of all from severity (critical -> high ...).
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why a human is needed."})
    agent: Agent = conversation.agent
    if not agent.escalation_enabled:
        raise EscalationDisabled(f"Escalation is turned off for the agent {agent.name}.")

    severity = _choice(Severity, "severity", severity or (rule.severity if rule else agent.default_severity))
    urgency = _choice(
        Urgency,
        "urgency",
        urgency
        or (rule.urgency if rule else "")
        or agent.default_urgency
        or DEFAULT_URGENCY_FOR_SEVERITY[severity],
    )
    # Rule and agent labels were checked when they were saved; a caller's are checked here.
    Label.check_names(agent.team_id, {"topic": (LabelKind.TOPIC, topic), "area": (LabelKind.AREA, area)})
    timeout_policy = _choice(TimeoutPolicy, "timeout_policy", timeout_policy or agent.timeout_policy)
    if timeout_policy == TimeoutPolicy.ANSWER and not agent.timeout_guidance.strip():
        raise ValidationError(
            {"timeout_policy": f"The agent {agent.name} has no default guidance to answer with."}
        )
    topic = topic or (rule.topic if rule else "") or agent.default_topic
    area = area or (rule.area if rule else "") or agent.default_area
    now = timezone.now()
    evidence_items = [{**item, "at": item.get("at", now.isoformat())} for item in (evidence or [])]
    actor_label = user.get_username() if user else f"agent {agent.slug}"

    # No savepoint: callers (the tool call, post_message) open it inside their own
    # transaction and let any error roll the whole of it back, so a savepoint
    # would only cost two round trips per escalation.
    with transaction.atomic(savepoint=False):
        # Serialises openers on one conversation, so two triggers at once still
        # make one card (the partial unique constraint backs this up).
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        current = _lock_active_escalation_of(conversation)
        if current is not None:
            return OpenResult(
                _add_evidence(
                    current,
                    rule=rule,
                    severity=severity,
                    urgency=urgency,
                    reason=reason,
                    evidence=evidence_items,
                    user=user,
                    actor_label=actor_label,
                ),
                created=False,
            )

        due = due_times(
            team_id=agent.team_id, targets=targets_for(team_id=agent.team_id, urgency=urgency), start=now
        )
        assigned = assignment.choose_assignee(agent)
        escalation = Escalation(
            agent=agent,
            team=agent.team,  # the payload needs team.slug; callers often have it loaded
            conversation=conversation,
            channel=conversation.channel,
            origin=origin,
            rule=rule,
            evidence=evidence_items,
            reason=reason[:500],
            severity=severity,
            urgency=urgency,
            topic=topic,
            area=area,
            blocking=blocking,
            status=Status.OPEN,
            assigned_to=assigned.user,
            response_due_at=due.response_due_at,
            resolution_due_at=due.resolution_due_at,
            timeout_policy=timeout_policy,
            timeout_at=None if timeout_policy == TimeoutPolicy.KEEP_WAITING else due.resolution_due_at,
            # The first reminder goes when the response target passes (escalations/timers.py).
            next_reminder_at=due.response_due_at,
        )
        _schedule_climb(escalation, start=now)
        audit = f"Opened by {actor_label}: {reason}"
        if assigned.user is not None:
            audit += f" (assigned to {_name(assigned.user)}: {assigned.how})"
        _insert_with_history(escalation, user=user, reason=audit)
        if blocking:
            _set_conversation_status([conversation], ConversationStatus.AWAITING_HUMAN)
        event = _append_event(escalation, EventType.CREATED, user=user, agent=None if user else agent)
        metrics.escalation_opened(escalation)
        _email_on_commit([(event.pk, _told_of_new(escalation))])
    return OpenResult(escalation, created=True)


def _told_of_new(escalation: Escalation) -> list[str]:
    """Usernames emailed about a new escalation, as the team's policy says: its assignee, and the
    team's supervisors on duty when it is critical."""
    policy = TeamPolicy.of(escalation.team_id)
    told = set()
    if escalation.assigned_to and policy.email_assigned:
        told.add(_name(escalation.assigned_to))
    if escalation.severity == Severity.CRITICAL and policy.email_new_critical:
        told.update(supervisors_on_duty([escalation.team_id])[escalation.team_id])
    return sorted(told)


def _choice(choices, field: str, value: str):
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: f"{value!r} is not one of {allowed}."}) from None


def _add_evidence(
    escalation: Escalation,
    *,
    rule: EscalationRule | None,
    severity: Severity,
    urgency: Urgency,
    reason: str,
    evidence: list[dict[str, Any]],
    user: AbstractBaseUser | None,
    actor_label: str,
) -> Escalation:
    """Call inside atomic with the escalation locked. Severity and urgency only ever go up."""
    changes: dict[str, list[Any]] = {}
    if SEVERITY_RANK[severity] > SEVERITY_RANK[Severity(escalation.severity)]:
        # The most severe trigger heads the card; the earlier ones stay as evidence.
        changes["severity"] = [escalation.severity, severity]
        changes["reason"] = [escalation.reason, reason[:500]]
        escalation.severity = severity
        escalation.reason = reason[:500]
        if escalation.rule_id != (rule.pk if rule else None):
            changes["rule"] = [escalation.rule_id, rule.pk if rule else None]
            escalation.rule = rule
    if URGENCY_RANK[urgency] > URGENCY_RANK[Urgency(escalation.urgency)]:
        changes.update(_set_urgency(escalation, urgency, now=timezone.now()))
    escalation.evidence = [*escalation.evidence, *evidence]
    _save_with_history([(escalation, f"Evidence added by {actor_label}: {reason}")], user=user)
    _append_event(
        escalation,
        EventType.UPDATED,
        user=user,
        agent=None if user else escalation.agent,
        extra={"changes": changes, "evidence_added": evidence, "reason": reason},
    )
    return escalation


@retry_if_busy
def change_urgency(
    *, escalation_id: int, user: AbstractBaseUser, urgency: Urgency | str, reason: str = ""
) -> Escalation:
    """A supervisor of the team raises or lowers an active escalation's urgency; its due times follow.

    Setting the urgency it already has changes nothing (no row saying nothing happened).
    """
    urgency = _choice(Urgency, "urgency", urgency)
    reason = reason.strip()
    with transaction.atomic():
        escalation = _lock(escalation_id)
        _require_team_member(user, escalation)
        _require_active(escalation)
        if escalation.urgency == urgency:
            return escalation
        previous = escalation.urgency
        changes = _set_urgency(escalation, urgency, now=timezone.now())
        audit = f"Urgency {previous} → {urgency}" + (f": {reason}" if reason else "")
        _save_with_history([(escalation, audit)], user=user)
        _append_event(
            escalation,
            EventType.UPDATED,
            user=user,
            extra={"changes": changes, "reason": reason or f"urgency {previous} → {urgency}"},
        )
    return escalation


def _set_urgency(escalation: Escalation, urgency: Urgency, *, now: dt.datetime) -> dict[str, list[Any]]:
    """The one place an escalation's urgency changes (the caller saves it and writes the event).

    Its targets are counted again from when it opened with the new urgency's minutes
    (working time, as when it opened), so the queue's due order, the breach timers and
    the timeout follow; a target already recorded as breached stays recorded. The next
    reminder follows the target now running. The ladder: a level the new urgency does
    not reach is not climbed; one it now reaches is due after its minutes from now
    (when the climb had stopped), or keeps its due time. Returns the changes, old and
    new, for the event.
    """
    before = {field: getattr(escalation, field) for field in _URGENCY_DEPENDENT}
    escalation.urgency = urgency
    due = due_times(
        team_id=escalation.team_id,
        targets=targets_for(team_id=escalation.team_id, urgency=urgency),
        start=escalation.created_at,
    )
    escalation.response_due_at = due.response_due_at
    escalation.resolution_due_at = due.resolution_due_at
    if escalation.timeout_at is not None:
        escalation.timeout_at = due.resolution_due_at
    claimed = escalation.status == Status.CLAIMED
    _schedule_reminder(escalation, escalation.resolution_due_at if claimed else escalation.response_due_at)
    if not claimed:
        if _next_level(escalation) is None:
            escalation.next_level_at = None
        elif escalation.next_level_at is None:
            _schedule_climb(escalation, start=now)
    changes = {}
    for field, old in before.items():
        new = getattr(escalation, field)
        if old != new:
            changes[field] = [_iso(old), _iso(new)] if field != "urgency" else [old, new]
    return changes


# What an urgency change may move: the event lists those that moved.
_URGENCY_DEPENDENT = [
    "urgency",
    "response_due_at",
    "resolution_due_at",
    "timeout_at",
    "next_reminder_at",
    "next_level_at",
]


# --- Supervisors' verbs -------------------------------------------------------------


@retry_if_busy
def claim(*, escalation_id: int, user: AbstractBaseUser, reason: str = "") -> Escalation:
    """Take an open escalation. Claiming one you already hold changes nothing."""
    with transaction.atomic():
        escalation = _lock(escalation_id)
        _require_team_member(user, escalation)
        if escalation.status == Status.CLAIMED and escalation.claimed_by_id == user.pk:
            return escalation
        _require_transition(escalation, Verb.CLAIM)
        escalation.status = Status.CLAIMED
        escalation.claimed_by = user
        escalation.claimed_at = timezone.now()
        escalation.claim_expires_at = escalation.claimed_at + _lease(escalation)
        escalation.next_level_at = None  # someone has it: the ladder stops climbing
        _schedule_reminder(escalation, escalation.resolution_due_at)
        _save_with_history([(escalation, reason or "Claimed")], user=user)
        _append_event(escalation, EventType.CLAIMED, user=user)
        metrics.escalation_claimed(escalation)
    return escalation


@retry_if_busy
def extend_claim(*, escalation_id: int, user: AbstractBaseUser) -> Escalation:
    """The claimer renews the claim: it now lasts the urgency's full claim time from now."""
    with transaction.atomic():
        escalation = _lock(escalation_id)
        _require_team_member(user, escalation)
        _require_transition(escalation, Verb.EXTEND)
        if escalation.claimed_by_id != user.pk:
            raise NotAllowed(
                f"Only {_name(escalation.claimed_by)}, who claimed it, can extend the claim.",
                escalation=escalation,
            )
        previous = escalation.claim_expires_at
        escalation.claim_expires_at = timezone.now() + _lease(escalation)
        _save_with_history(
            [(escalation, f"Claim extended to {_when(escalation.claim_expires_at)}")], user=user
        )
        _append_event(
            escalation,
            EventType.UPDATED,
            user=user,
            extra={
                "changes": {"claim_expires_at": [_iso(previous), _iso(escalation.claim_expires_at)]},
                "reason": "claim extended",
            },
        )
    return escalation


def _lease(escalation: Escalation) -> dt.timedelta:
    # Wall-clock time, not working time: a lease is about the person holding it now.
    return dt.timedelta(
        minutes=targets_for(team_id=escalation.team_id, urgency=escalation.urgency).claim_minutes
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@retry_if_busy
def release(*, escalation_id: int, user: AbstractBaseUser, reason: str = "") -> Escalation:
    """Give a claimed escalation back to the queue: the claimer, or a team owner."""
    with transaction.atomic():
        escalation = _lock(escalation_id)
        _require_team_member(user, escalation)
        _require_transition(escalation, Verb.RELEASE)
        if escalation.claimed_by_id != user.pk and not has_team_role(user, escalation.team_id, Role.OWNER):
            raise NotAllowed(
                f"Only {_name(escalation.claimed_by)}, who claimed it, or a team owner can release it.",
                escalation=escalation,
            )
        _release([(escalation, reason or "Released to the queue")], user=user, reason=reason or "released")
    return escalation


def _release(
    changes: list[tuple[Escalation, str]],
    *,
    user: AbstractBaseUser | None,
    reason: str,
    now: dt.datetime | None = None,
) -> None:
    """Back to the queue, each with its audit text: a supervisor's release (a list of one) or a
    timer's batch of lapsed claims. Call inside atomic with the escalations locked and claimed."""
    previous = {}
    for escalation, _ in changes:
        previous[escalation.pk] = escalation.claimed_by
        escalation.status = Status.OPEN
        escalation.claimed_by = None
        escalation.claimed_at = None
        escalation.claim_expires_at = None
        _schedule_reminder(escalation, escalation.response_due_at)
        # Unclaimed again: the climb goes on from the level reached, its clock restarted.
        _schedule_climb(escalation, start=now or timezone.now())
    _save_with_history(changes, user=user, fields=_RELEASE_FIELDS)
    _append_events(
        [
            (
                escalation,
                EventType.RELEASED,
                {"previous_claimer": _name(previous[escalation.pk]), "reason": reason},
            )
            for escalation, _ in changes
        ],
        user=user,
    )


_RELEASE_FIELDS = [
    "status",
    "claimed_by",
    "claimed_at",
    "claim_expires_at",
    "next_reminder_at",
    "next_level_at",
]


@retry_if_busy
def respond(
    *,
    escalation_id: int,
    user: AbstractBaseUser,
    guidance: str,
    reason: str = "",
    needed: bool | None = None,
) -> Escalation:
    """Answer with guidance; the agent resumes with it. An open escalation is claimed on the way.

    `needed` (optional): the supervisor's verdict on whether a human was needed, recorded
    with the answer in the same audit row (see mark_needed).
    """
    guidance = guidance.strip()
    if not guidance:
        raise ValidationError({"guidance": "Write the guidance the agent should continue with."})
    with transaction.atomic():
        escalation = _lock(escalation_id, conversation_first=True)
        _require_team_member(user, escalation)
        _require_transition(escalation, Verb.RESPOND)
        _require_not_held_by_another(escalation, user)
        now = timezone.now()
        if escalation.status == Status.OPEN:
            escalation.claimed_by = user
            escalation.claimed_at = now
            metrics.escalation_claimed(escalation)
        escalation.status = Status.RESOLVED
        escalation.responder = user
        escalation.guidance = guidance
        escalation.closed_at = now
        _set_needed(escalation, needed, user=user, now=now)
        _stop_timers(escalation)
        _save_with_history([(escalation, reason or "Responded with guidance")], user=user)
        _resume_conversations([escalation])
        _append_event(escalation, EventType.RESOLVED, user=user)
        metrics.escalation_closed(escalation)
    return escalation


@retry_if_busy
def dismiss(
    *, escalation_id: int, user: AbstractBaseUser, note: str = "", needed: bool | None = None
) -> Escalation:
    """Close without guidance: the agent proceeds alone. `needed`: as for respond."""
    with transaction.atomic():
        escalation = _lock(escalation_id, conversation_first=True)
        _require_team_member(user, escalation)
        _require_transition(escalation, Verb.DISMISS)
        _require_not_held_by_another(escalation, user)
        escalation.status = Status.DISMISSED
        escalation.responder = user
        escalation.closing_note = note.strip()
        escalation.closed_at = timezone.now()
        _set_needed(escalation, needed, user=user, now=escalation.closed_at)
        _stop_timers(escalation)
        _save_with_history([(escalation, note.strip() or "Dismissed")], user=user)
        _resume_conversations([escalation])
        _append_event(escalation, EventType.DISMISSED, user=user)
        metrics.escalation_closed(escalation)
    return escalation


@retry_if_busy
def mark_needed(*, escalation_id: int, user: AbstractBaseUser, needed: bool) -> Escalation:
    """A supervisor of the team says whether this escalation needed a human, at any time.

    Changeable: each change is one audit row and an `escalation.updated` event; marking
    it as it already is changes nothing (no row saying nothing happened).
    """
    if not isinstance(needed, bool):
        raise ValidationError({"needed": "Say true (a human was needed) or false (it was not)."})
    with transaction.atomic():
        escalation = _lock(escalation_id)
        _require_team_member(user, escalation)
        previous = escalation.needed
        if previous is needed:
            return escalation
        _set_needed(escalation, needed, user=user, now=timezone.now())
        _save_with_history([(escalation, f"Marked {_needed_word(needed)}")], user=user)
        _append_event(
            escalation,
            EventType.UPDATED,
            user=user,
            extra={"changes": {"needed": [previous, needed]}, "reason": f"marked {_needed_word(needed)}"},
        )
    return escalation


def _set_needed(
    escalation: Escalation, needed: bool | None, *, user: AbstractBaseUser, now: dt.datetime
) -> None:
    """Record the verdict on the row (the caller saves it). None leaves it as it is."""
    if needed is None:
        return
    escalation.needed = needed
    escalation.marked_by = user
    escalation.marked_at = now


def _needed_word(needed: bool) -> str:
    return "needed" if needed else "not needed"


# --- The agent's verb ---------------------------------------------------------------


@retry_if_busy
def withdraw(*, escalation_id: int, agent: Agent, reason: str = "") -> Escalation:
    """The agent no longer needs a human (the user left, the issue solved itself)."""
    with transaction.atomic():
        escalation = _lock(escalation_id, conversation_first=True)
        if escalation.agent_id != agent.pk:
            raise NotAllowed("An agent can only withdraw its own escalations.", escalation=escalation)
        _require_transition(escalation, Verb.WITHDRAW)
        escalation.status = Status.WITHDRAWN
        escalation.closing_note = reason.strip()
        escalation.closed_at = timezone.now()
        _stop_timers(escalation)
        _save_with_history(
            [(escalation, f"Withdrawn by agent {agent.slug}: {reason or 'no reason given'}")], user=None
        )
        _resume_conversations([escalation])
        _append_event(escalation, EventType.WITHDRAWN, agent=agent)
        metrics.escalation_closed(escalation)
    return escalation


# --- The timers' verbs (called by escalations/timers.py) -----------------------------
#
# Each takes a batch of escalation ids (one is a batch of one) and acts, in one
# transaction, on those that still match what made them due, re-checked under
# the row locks: so a second sweep, an overlapping one or a retry after a worker
# died finds nothing left to do, and a worker that dies mid-batch leaves nothing
# half-written. On PostgreSQL a row another transaction holds (a supervisor
# mid-claim, another sweep) is skipped, not waited for: the next sweep sees it
# again if it is still due. A batch costs a constant number of statements
# whatever its size (the lock, the read, one UPDATE, one history INSERT, the
# event-order lock, one event INSERT, the endpoints lookup, the recipients),
# and the events are written last, so the event-order lock is held for one
# INSERT, as in a person's transition.

# Timer actions have no acting user: their audit rows start with this, so the
# console's timeline can name the timer rather than the agent.
TIMER_REASON_PREFIX = "Timer: "


class Target(models.TextChoices):
    RESPONSE = "response"
    RESOLUTION = "resolution"


# target -> (due field, breached field, statuses in which it can be breached)
_BREACHES = {
    Target.RESPONSE: ("response_due_at", "response_breached_at", frozenset({Status.OPEN})),
    Target.RESOLUTION: ("resolution_due_at", "resolution_breached_at", ACTIVE_STATUSES),
}


@retry_if_busy
def mark_breached(*, escalation_ids: list[int], target: Target | str, now: dt.datetime | None = None) -> int:
    """Record, once each, that a target passed; returns how many were recorded (0: nothing left to).

    Response: the escalation is still open (unclaimed) at its response due time;
    resolution: it is still unanswered (open or claimed) at its resolution due time.
    """
    target = Target(target)
    now = now or timezone.now()
    due_field, breached_field, statuses = _BREACHES[target]
    due = Escalation.objects.filter(
        status__in=statuses, **{f"{due_field}__lte": now, f"{breached_field}__isnull": True}
    )
    with transaction.atomic():
        escalations = _lock_due(due, escalation_ids)
        if not escalations:
            return 0
        for escalation in escalations:
            setattr(escalation, breached_field, now)
        _save_with_history(
            [
                (e, f"{TIMER_REASON_PREFIX}{target} target passed (due {_when(getattr(e, due_field))})")
                for e in escalations
            ],
            user=None,
            fields=[breached_field],
            guard=due,
        )
        events = _append_events(
            [
                (
                    e,
                    EventType.SLA_BREACHED,
                    {"target": target.value, "due_at": getattr(e, due_field).isoformat()},
                )
                for e in escalations
            ]
        )
        metrics.escalations_breached(target.value, len(escalations))
        told = _holders_or_teams([e for e in escalations if TeamPolicy.of(e.team_id).email_breaches])
        _email_on_commit(
            [(event.pk, told[event.escalation_id]) for event in events if event.escalation_id in told]
        )
    return len(escalations)


def _holders_or_teams(escalations: list[Escalation]) -> dict[int, list[str]]:
    """Per escalation id, whom a timer's notice concerns: the claimer if claimed, else the team's
    supervisors on duty. One query for the lot."""
    unclaimed_teams = {e.team_id for e in escalations if e.status != Status.CLAIMED}
    on_duty = supervisors_on_duty(unclaimed_teams) if unclaimed_teams else {}
    return {
        e.pk: [_name(e.claimed_by)] if e.status == Status.CLAIMED else on_duty[e.team_id] for e in escalations
    }


@retry_if_busy
def expire_claim(*, escalation_ids: list[int], now: dt.datetime | None = None) -> int:
    """Claims past their lease return to the queue, as releases with the reason "claim expired"."""
    now = now or timezone.now()
    due = Escalation.objects.filter(status=Status.CLAIMED, claim_expires_at__lte=now)
    with transaction.atomic():
        escalations = _lock_due(due, escalation_ids)
        _release(
            [(e, f"{TIMER_REASON_PREFIX}claim by {_lapsed_claim(e)}") for e in escalations],
            user=None,
            reason="claim expired",
            now=now,
        )
    return len(escalations)


def _lapsed_claim(escalation: Escalation) -> str:
    return f"{_name(escalation.claimed_by)} expired ({_when(escalation.claim_expires_at)})"


@retry_if_busy
def time_out(*, escalation_ids: list[int], now: dt.datetime | None = None) -> int:
    """Apply the timeout policy of escalations still unanswered at their resolution target.

    Answer: resolved with the agent's default guidance; dismiss: dismissed. Either way
    marked automatic, and the waiting agent hears it as it hears a person's answer.
    """
    now = now or timezone.now()
    due = Escalation.objects.filter(status__in=ACTIVE_STATUSES, timeout_at__lte=now)
    with transaction.atomic():
        # A conversation someone holds (a message being posted) is left to the next sweep.
        escalations = _lock_due(due, _with_conversation_locked(due, escalation_ids))
        if not escalations:
            return 0
        changes, events = [], []
        for escalation in escalations:
            when = _when(escalation.resolution_due_at)
            guidance = escalation.agent.timeout_guidance.strip()
            # The agent's guidance may have been emptied since: dismissing then beats an empty answer.
            answer = escalation.timeout_policy == TimeoutPolicy.ANSWER and guidance
            escalation.closed_at = now
            escalation.closed_automatically = True
            if answer:
                escalation.status = Status.RESOLVED
                escalation.guidance = guidance
                audit = (
                    f"{TIMER_REASON_PREFIX}no answer by {when}: answered with the agent's default guidance"
                )
            else:
                escalation.status = Status.DISMISSED
                escalation.closing_note = (
                    f"No answer by the resolution target ({when}): dismissed by the timeout policy."
                )
                audit = f"{TIMER_REASON_PREFIX}no answer by {when}: dismissed"
            _stop_timers(escalation)
            changes.append((escalation, audit))
            event_type = EventType.RESOLVED if answer else EventType.DISMISSED
            events.append((escalation, event_type, {"automatic": True, "reason": "timeout"}))
        _save_with_history(changes, user=None, fields=_TIMEOUT_FIELDS, guard=due)
        _resume_conversations(escalations)
        _append_events(events)
        metrics.escalations_closed(escalations)
    return len(escalations)


# What a timeout changes: the outcome, and the timers it stops (see _stop_timers).
_TIMEOUT_FIELDS = [
    "status",
    "guidance",
    "closing_note",
    "closed_at",
    "closed_automatically",
    "next_reminder_at",
    "claim_expires_at",
    "timeout_at",
    "next_level_at",
]


@retry_if_busy
def remind(*, escalation_ids: list[int], now: dt.datetime | None = None) -> int:
    """Remind about escalations past their target: the claimer if claimed, else the team.

    At most one reminder per the urgency's reminder interval: the next is
    scheduled in the same transaction. The event brings the console's toast;
    the email goes on commit. Returns how many were reminded.
    """
    now = now or timezone.now()
    due = Escalation.objects.filter(status__in=ACTIVE_STATUSES, next_reminder_at__lte=now)
    with transaction.atomic():
        escalations = _lock_due(due, escalation_ids)
        reminded = []
        for escalation in escalations:
            claimed = escalation.status == Status.CLAIMED
            target, due_at = (
                (Target.RESOLUTION, escalation.resolution_due_at)
                if claimed
                else (Target.RESPONSE, escalation.response_due_at)
            )
            if due_at > now:  # not past its target (yet): wait for it rather than remind early
                escalation.next_reminder_at = due_at
                continue
            spacing = targets_for(team_id=escalation.team_id, urgency=escalation.urgency).reminder_minutes
            escalation.reminded_at = now
            escalation.next_reminder_at = now + dt.timedelta(minutes=spacing)
            reminded.append((escalation, target, due_at))
        if not escalations:
            return 0
        # Bookkeeping, not a change of the escalation: no audit row (the event records it).
        _update_guarded(due, escalations, ["reminded_at", "next_reminder_at"])
        recipients = _holders_or_teams([e for e, _, _ in reminded])
        events = _append_events(
            [
                (
                    e,
                    EventType.REMINDER,
                    {"target": target.value, "due_at": due_at.isoformat(), "recipients": recipients[e.pk]},
                )
                for e, target, due_at in reminded
            ]
        )
        _email_on_commit(
            [
                (event.pk, event.payload["recipients"])
                for event in events
                if TeamPolicy.of(event.team_id).email_reminders
            ]
        )
    return len(reminded)


def _schedule_reminder(escalation: Escalation, due_at: dt.datetime | None) -> None:
    """The next reminder: when the current target passes, never within an interval of the last one."""
    next_at = due_at
    if due_at is not None and escalation.reminded_at is not None:
        spacing = targets_for(team_id=escalation.team_id, urgency=escalation.urgency).reminder_minutes
        next_at = max(due_at, escalation.reminded_at + dt.timedelta(minutes=spacing))
    escalation.next_reminder_at = next_at


def _stop_timers(escalation: Escalation) -> None:
    """A closed escalation has nothing left to fall due (it also leaves the timers' indexes)."""
    escalation.next_reminder_at = None
    escalation.claim_expires_at = None
    escalation.timeout_at = None
    escalation.next_level_at = None


def _next_level(escalation: Escalation) -> LadderLevel | None:
    """The team's level above the one reached, if the escalation's urgency climbs that far."""
    number = escalation.level + 1
    level = team_config(
        ("ladder", escalation.team_id, number),
        lambda: LadderLevel.objects.filter(team_id=escalation.team_id, number=number).first(),
    )
    return level if level is not None and level.applies_to(escalation.urgency) else None


def _schedule_climb(escalation: Escalation, *, start: dt.datetime) -> None:
    """When the next level is due, counted from `start`; none when the ladder ends here."""
    # Wall-clock time, like a lease: the ladder is for when nobody is answering now.
    level = _next_level(escalation)
    escalation.next_level_at = start + dt.timedelta(minutes=level.after_minutes) if level else None


@retry_if_busy
def climb(*, escalation_ids: list[int], now: dt.datetime | None = None) -> int:
    """Take escalations still unclaimed at their next level's time one level up, and tell that level.

    Each: an `escalation.escalated` event (the console and webhooks), an audit row,
    and an email to those notified after the commit. The next level is scheduled
    from now, so the climb goes one level per due time however late the sweep runs.
    Returns how many climbed.
    """
    now = now or timezone.now()
    due = Escalation.objects.filter(status=Status.OPEN, next_level_at__lte=now)
    with transaction.atomic():
        escalations = _lock_due(due, escalation_ids)
        if not escalations:
            return 0
        stopped, climbing = [], []
        for escalation in escalations:
            level = _next_level(escalation)
            if level is None:  # the ladder was shortened (or the level raised) since this was scheduled
                escalation.next_level_at = None
                stopped.append(escalation)
            else:
                climbing.append((escalation, level))
        _update_guarded(due, stopped, ["next_level_at"])
        # One query per level reached in this batch (a team's ladder has a few), not per escalation.
        levels = {level.pk: level for _, level in climbing}
        notified = {pk: sorted(_name(u) for u in ladder_recipients(level)) for pk, level in levels.items()}
        changes, events = [], []
        for escalation, level in climbing:
            told = notified[level.pk]
            escalation.level = level.number
            _schedule_climb(escalation, start=now)
            changes.append(
                (
                    escalation,
                    f"{TIMER_REASON_PREFIX}unclaimed: escalated to level {level.number}, "
                    f"notifying {', '.join(told) or 'nobody'}",
                )
            )
            events.append((escalation, EventType.ESCALATED, {"level": level.number, "notified": told}))
        _save_with_history(changes, user=None, fields=["level", "next_level_at"], guard=due)
        written = _append_events(events)
        _email_on_commit(
            [
                (event.pk, event.payload["notified"])
                for event in written
                if TeamPolicy.of(event.team_id).email_escalated
            ]
        )
    return len(climbing)


def ladder_recipients(level: LadderLevel) -> list[AbstractBaseUser]:
    """The active people a ladder level tells, each once."""
    wanted = models.Q(pk__in=level.notify_users.values("pk"))
    if level.notify_supervisors:
        wanted |= models.Q(memberships__team_id=level.team_id, memberships__on_duty=True)
    # Owners are told on duty or not: they are whom a ladder climbs to when nobody answers.
    if level.notify_owners:
        wanted |= models.Q(memberships__team_id=level.team_id, memberships__role=Role.OWNER)
    if level.notify_team_id:
        wanted |= models.Q(memberships__team_id=level.notify_team_id, memberships__on_duty=True)
    return list(get_user_model().objects.filter(wanted, is_active=True).distinct().order_by("username"))


def _email_on_commit(items: list[tuple[int, list[str]]]) -> None:
    """After the commit, email each (event id, usernames) with anyone to tell: one task for the lot.
    Call inside atomic."""
    items = [(event_id, usernames) for event_id, usernames in items if usernames]
    if items:
        transaction.on_commit(lambda: _enqueue_emails(items))


def _enqueue_emails(items: list[tuple[int, list[str]]]) -> None:
    from escalations.tasks import send_event_emails  # the tasks module imports the timers, which import this

    try:
        # Through the breaker: a Redis that timed out a moment ago is not waited on again.
        with guarded():
            send_event_emails.delay(items)
    except Exception as error:  # the broker's errors vary by transport; the console has the events anyway
        events = [event_id for event_id, _ in items]
        logger.warning("Broker unavailable; no email for events %s (%s).", events, error)


def _lock_due(due, escalation_ids: list[int]) -> list[Escalation]:
    """Those of `escalation_ids` still in `due`, locked (skipping rows another transaction holds), then
    read with everything their events show. Two queries for the lot. Call inside atomic.

    Lock, then read: see _lock_then_read. The user columns are joined here, unlike in a
    person's transition, because a batch would otherwise load them one query per row.
    """
    pks = list(
        due.filter(pk__in=escalation_ids).select_for_update(skip_locked=True).values_list("pk", flat=True)
    )
    if not pks:
        return []
    rows = _with_relations(Escalation.objects).select_related("assigned_to", "claimed_by", "responder")
    return list(rows.filter(pk__in=pks).order_by("pk"))


# --- Refusals, in words a person understands ---------------------------------------


def _require_active(escalation: Escalation) -> None:
    if escalation.is_final:
        raise TransitionRefused(
            f"This escalation is already {_closed_by_phrase(escalation)}.",
            escalation=escalation,
            code=f"already_{escalation.status}",
        )


def _require_transition(escalation: Escalation, verb: Verb) -> None:
    allowed_from, _ = TRANSITIONS[verb]
    if escalation.status in allowed_from:
        return
    _require_active(escalation)
    if escalation.status == Status.CLAIMED:  # only CLAIM refuses a claimed escalation
        raise TransitionRefused(
            f"Already claimed by {_name(escalation.claimed_by)} at {_when(escalation.claimed_at)}.",
            escalation=escalation,
            code="already_claimed",
        )
    raise TransitionRefused(  # RELEASE or EXTEND of an open escalation
        f"This escalation is not claimed, so there is nothing to {verb.value}.",
        escalation=escalation,
        code="not_claimed",
    )


def _require_not_held_by_another(escalation: Escalation, user: AbstractBaseUser) -> None:
    if (
        escalation.status == Status.CLAIMED
        and escalation.claimed_by_id != user.pk
        and not has_team_role(user, escalation.team_id, Role.OWNER)
    ):
        raise TransitionRefused(
            f"Claimed by {_name(escalation.claimed_by)} at {_when(escalation.claimed_at)}: "
            "only they or a team owner can answer it.",
            escalation=escalation,
            code="claimed_by_another",
        )


def _require_team_member(user: AbstractBaseUser, escalation: Escalation) -> None:
    if not has_team_role(user, escalation.team_id, Role.SUPERVISOR):
        raise NotAllowed(f"You are not a member of the team {escalation.team.name}.", escalation=escalation)


def _closed_by_phrase(escalation: Escalation) -> str:
    status = escalation.get_status_display().lower()
    if escalation.closed_automatically:
        return f"{status} automatically (no answer in time) at {_when(escalation.closed_at)}"
    who = (
        f"the agent {escalation.agent.name}"
        if escalation.status == Status.WITHDRAWN
        else _name(escalation.responder)
    )
    return f"{status} by {who} at {_when(escalation.closed_at)}"


def _name(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user else "someone"


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    moment = moment.astimezone(dt.UTC)
    if moment.date() == timezone.now().astimezone(dt.UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- The shared steps of every transition -------------------------------------------


def _with_relations(queryset):
    # Only what every transition reads. The user columns are mostly empty and
    # load on first use: joining all seven relations cost PostgreSQL ~4 ms of
    # planning per transition.
    return queryset.select_related("agent", "team", "conversation", "rule")


def _lock_then_read(queryset) -> Escalation | None:
    """Lock the first matching row, then read it with its relations. Call inside atomic.

    Two steps on purpose: on PostgreSQL a locked read that waited for another
    transaction re-checks the locked row but not rows joined to it, so a
    select_related done in the same query can return the winner's claimed_by
    as None ("claimed by someone").
    """
    pk = queryset.select_for_update().values_list("pk", flat=True).first()
    return None if pk is None else _with_relations(Escalation.objects).get(pk=pk)


def _lock_active_escalation_of(conversation: Conversation) -> Escalation | None:
    return _lock_then_read(Escalation.objects.filter(conversation=conversation, status__in=ACTIVE_STATUSES))


def _lock(escalation_id: int, *, conversation_first: bool = False) -> Escalation:
    """Call inside atomic. `conversation_first`: for a verb that may resume the conversation."""
    if conversation_first:
        _with_conversation_locked(Escalation.objects.all(), [escalation_id], skip_locked=False)
    escalation = _lock_then_read(Escalation.objects.filter(pk=escalation_id))
    if escalation is None:
        raise EscalationError(f"There is no escalation #{escalation_id}.")
    return escalation


def _with_conversation_locked(queryset, escalation_ids: list[int], *, skip_locked: bool = True) -> list[int]:
    """Lock the conversations the blocking ones of `escalation_ids` pause, before the escalations;
    returns the ids whose conversation is now ours (or that pause none). Call inside atomic.

    The order open_escalation and post_message take them in (the conversation, then its active
    escalation): in the other order an answer holding the escalation and a user's message holding
    the conversation deadlock on PostgreSQL (bench/soak.py). With `skip_locked`, one that another
    transaction holds is left out, for the next sweep. Two queries for the lot.
    """
    rows = list(queryset.filter(pk__in=escalation_ids).values_list("pk", "conversation_id", "blocking"))
    paused = {conversation_id for _, conversation_id, blocking in rows if blocking}
    locked = set(
        Conversation.objects.filter(pk__in=paused)
        .select_for_update(skip_locked=skip_locked)
        .values_list("pk", flat=True)
    )
    return [pk for pk, conversation_id, blocking in rows if not blocking or conversation_id in locked]


def _insert_with_history(escalation: Escalation, *, user: AbstractBaseUser | None, reason: str) -> None:
    """Insert a new escalation, with the history row that names who opened it and why. Call inside atomic."""
    escalation._history_user = user
    escalation._change_reason = reason
    escalation.save(force_insert=True)
    del escalation._history_user, escalation._change_reason


# Every column a transition may change: what _save_with_history writes unless told fewer.
_SAVED_FIELDS = [
    field.name
    for field in Escalation._meta.concrete_fields
    if not field.primary_key and not field.generated and field.name not in ("created_at", "updated_at")
]


def _save_with_history(
    changes: list[tuple[Escalation, str]],
    *,
    user: AbstractBaseUser | None,
    fields: list[str] | None = None,
    guard=None,
) -> None:
    """Save changed escalations, one history row each naming who acted and why. Call inside atomic.

    The one way an escalation's change is saved: a person's verb saves a list of one,
    a timer its batch; one UPDATE and one history INSERT either way. `fields`: the
    columns that changed (default: all). `guard`: see _update_guarded.
    """
    if not changes:
        return
    now = timezone.now()
    escalations = [escalation for escalation, _ in changes]
    for escalation, reason in changes:
        escalation.updated_at = now  # bulk_update does not apply auto_now
        # Set even when None: unset, simple-history would take the request's user instead.
        escalation._history_user = user
        escalation._change_reason = reason
    _update_guarded(guard, escalations, [*(fields or _SAVED_FIELDS), "updated_at"])
    Escalation.history.bulk_history_create(escalations, update=True, default_date=now)
    for escalation in escalations:
        del escalation._history_user, escalation._change_reason


def _update_guarded(guard, escalations: list[Escalation], fields: list[str]) -> None:
    """One UPDATE of these columns of these escalations. Call inside atomic.

    A column every row sets to the same value (a batch's breach time, its status) is set
    as that value; only a column whose values differ gets a CASE on the id. Django's
    bulk_update builds a CASE for every column, and compiling those was most of a
    timer batch's CPU time (bench/README.md).

    `guard` (a queryset: a timer's due condition) is repeated in the UPDATE's WHERE:
    the rows are locked and re-checked, so it always matches; should a row have
    changed anyway, the batch is rolled back rather than half-written.
    """
    if not escalations:
        return
    values = {}
    for name in fields:
        field = Escalation._meta.get_field(name)
        column = [(escalation.pk, getattr(escalation, field.attname)) for escalation in escalations]
        first = column[0][1]
        if all(value == first for _, value in column):
            values[field.attname] = first
        else:
            whens = [models.When(pk=pk, then=models.Value(value, output_field=field)) for pk, value in column]
            values[field.attname] = models.Case(*whens, output_field=field)
    rows = Escalation.objects if guard is None else guard
    updated = rows.filter(pk__in=[escalation.pk for escalation in escalations]).update(**values)
    if updated != len(escalations):
        raise EscalationError(
            f"{len(escalations) - updated} of {len(escalations)} escalations changed under the lock; "
            "nothing was written."
        )


def _set_conversation_status(conversations: list[Conversation], status: ConversationStatus) -> None:
    if not conversations:
        return
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
        status=status, updated_at=timezone.now()
    )
    for conversation in conversations:
        conversation.status = status


def _resume_conversations(escalations: list[Escalation]) -> None:
    """A blocking escalation's answer un-pauses its conversation (unless it was closed meanwhile)."""
    waiting = [
        e.conversation
        for e in escalations
        if e.blocking and e.conversation.status == ConversationStatus.AWAITING_HUMAN
    ]
    _set_conversation_status(waiting, ConversationStatus.ACTIVE)


def _append_event(
    escalation: Escalation,
    event_type: EventType,
    *,
    user: AbstractBaseUser | None = None,
    agent: Agent | None = None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """One escalation's event: _append_events with a list of one."""
    (event,) = _append_events([(escalation, event_type, extra)], user=user, agent=agent)
    return event


def _append_events(
    items: list[tuple[Escalation, EventType, dict[str, Any] | None]],
    *,
    user: AbstractBaseUser | None = None,
    agent: Agent | None = None,
) -> list[Event]:
    """Write the outbox rows, (escalation, type, extra payload) each, and schedule their broadcast.

    Call last inside atomic.
    """
    return _write_events(
        [
            Event(
                type=event_type,
                escalation=escalation,
                team_id=escalation.team_id,
                actor=user,
                actor_agent=agent,
                payload={
                    "escalation": escalation_payload(escalation),
                    "actor": {"user": _name(user) if user else None, "agent": agent.slug if agent else None},
                    **(extra or {}),
                },
            )
            for escalation, event_type, extra in items
        ]
    )


def team_event_append(*, team_id: int, event_type: EventType, payload: dict[str, Any]) -> Event:
    """An event about the team rather than one escalation (e.g. a webhook endpoint disabled).

    Call last inside atomic. It is broadcast, in the event feed and sent to webhooks like the rest.
    """
    (event,) = _write_events([Event(type=event_type, team_id=team_id, payload=payload)])
    return event


def _write_events(events: list[Event]) -> list[Event]:
    if not events:
        return []
    if connection.vendor == "postgresql":
        # Sequence values are taken at insert but become visible at commit, so
        # without this a reader could see event 12 before 11 commits and skip
        # 11 forever. Held to commit; every transition takes it last, so no
        # lock-order cycle. (SQLite's IMMEDIATE transactions already serialise.)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
    # One INSERT: ids are taken in list order, so a batch's events keep their order.
    Event.objects.bulk_create(events)
    messages = [broadcast.event_message(event) for event in events]
    transaction.on_commit(lambda: _publish(messages))
    transaction.on_commit(lambda: _log_events(events))
    # Delivery rows in this same transaction; they are enqueued on commit.
    deliveries_for_events(events)
    return events


def _publish(messages: list[dict[str, Any]]) -> None:
    for message in messages:  # in event order, one broadcast per event
        broadcast.publish_event(message)


def _log_events(events: list[Event]) -> None:
    """After the commit: the lines that tie a request id (on every line) to the changes it made."""
    for event in events:
        logger.info(
            "Event %s %s",
            event.pk,
            event.type,
            extra={
                "event_id": event.pk,
                "event_type": event.type,
                "escalation_id": event.escalation_id,
                "team_id": event.team_id,
            },
        )


# An arbitrary constant naming the advisory lock that orders event commits.
EVENT_ORDER_LOCK = 7_240_001


# --- Urgency targets (a team's configuration) -----------------------------------------


def urgency_target_set(
    *,
    team_id: int,
    urgency: Urgency | str,
    response_minutes: int,
    resolution_minutes: int,
    claim_minutes: int,
    reminder_minutes: int,
) -> UrgencyTarget:
    """The team's own targets for this urgency, replacing the default for it.

    Applies to escalations opened (due times) and claimed (lease) from now on.
    """
    target, _ = UrgencyTarget.objects.update_or_create(
        team_id=team_id,
        urgency=_choice(Urgency, "urgency", urgency),
        defaults={
            "response_minutes": response_minutes,
            "resolution_minutes": resolution_minutes,
            "claim_minutes": claim_minutes,
            "reminder_minutes": reminder_minutes,
        },
    )
    return target


def ladder_set(*, team_id: int, levels: list[dict[str, Any]]) -> list[LadderLevel]:
    """Replace the team's escalation ladder: level 1 first, each as LadderLevel's fields with
    `notify_users` a list of users and `notify_team` a team id or None.

    Escalations already climbing go on by the new levels: a climb re-reads the level it is
    due for (escalations.timers), and one the ladder no longer has stops there; one that
    had stopped, or never started, climbs again if the new ladder goes higher (ladder_changed).
    Named people must be members of the team.
    """
    _refuse_outsiders(team_id, [user for level in levels for user in level.get("notify_users", [])])
    with transaction.atomic():
        LadderLevel.objects.filter(team_id=team_id).delete()
        rows = []
        for number, level in enumerate(levels, start=1):
            row = LadderLevel(
                team_id=team_id,
                number=number,
                after_minutes=level["after_minutes"],
                min_urgency=_choice(Urgency, "min_urgency", level.get("min_urgency", Urgency.LOW)),
                notify_supervisors=level.get("notify_supervisors", True),
                notify_owners=level.get("notify_owners", False),
                notify_team_id=level.get("notify_team"),
            )
            row.clean()
            row.save()
            row.notify_users.set(level.get("notify_users", []))
            rows.append(row)
        ladder_changed(team_id=team_id)
    return rows


def _refuse_outsiders(team_id: int, users: list[AbstractBaseUser]) -> None:
    """A ladder names only its team's people: anyone else would let an owner probe for the
    instance's users and send the team's news outside it. Worded as for a user who does not
    exist, so the answer does not tell which."""
    members = set(Membership.objects.filter(team_id=team_id).values_list("user_id", flat=True))
    outsiders = sorted({_name(user) for user in users if user.pk not in members})
    if outsiders:
        raise ValidationError({"notify_users": f"No active user named {', '.join(outsiders)}."})


def ladder_changed(*, team_id: int) -> None:
    """After the team's ladder changed (ladder_set, the admin's team page): each open escalation
    with no next level scheduled that the new ladder has one for climbs again, from now.

    A schedule only, like _schedule_climb at opening: the climb itself writes the audit row
    and the event. One guarded UPDATE per level: one claimed meanwhile no longer matches.
    """
    now = timezone.now()
    stopped = Escalation.objects.filter(team_id=team_id, status=Status.OPEN, next_level_at__isnull=True)
    for level in LadderLevel.objects.filter(team_id=team_id):
        urgencies = [urgency for urgency in Urgency if level.applies_to(urgency)]
        stopped.filter(level=level.number - 1, urgency__in=urgencies).update(
            next_level_at=now + dt.timedelta(minutes=level.after_minutes)
        )


def urgency_target_reset(*, team_id: int, urgency: Urgency | str) -> None:
    """Back to the default targets for this urgency."""
    UrgencyTarget.objects.filter(team_id=team_id, urgency=_choice(Urgency, "urgency", urgency)).delete()
