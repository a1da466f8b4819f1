"""The escalation verbs: the only code that changes an escalation (its status through
escalations/transitions.py).

Every verb runs in one transaction:
1. lock the row (escalations/rows.py: select_for_update; on SQLite the IMMEDIATE
   transaction already holds the database's write lock) and check the verb against
   TRANSITIONS and who may act (escalations/transitions.py), so of two racing
   supervisors exactly one wins;
2. save the row with the acting user and a reason set, which writes exactly
   one django-simple-history row (the audit);
3. append an Event (escalations/outbox.py), last, under a lock that makes event
   ids commit in order, with its webhook Delivery rows;
4. transaction.on_commit -> broadcast to the team's channel group, the deliveries
   and emails enqueued;
5. the metrics it moves (escalation_project/metrics.py), counted on commit.
A refused action raises a domain error (escalations/errors.py) whose message a person can read.
A team's targets and ladder are written by escalations/team_settings.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from agents.models import Agent, Conversation, ConversationStatus, EscalationRule, Label, LabelKind
from escalation_project import metrics
from escalation_project.sqlite_retry import retry_if_busy
from escalations import assignment, outbox, rows, transitions
from escalations.choices import (
    SEVERITY_RANK,
    URGENCY_RANK,
    Severity,
    TimeoutPolicy,
    Urgency,
    choice,
    classify,
)

# The refusals the verbs raise; callers catch them as services.EscalationError and the like.
from escalations.errors import (  # noqa: F401
    EscalationDisabled,
    EscalationError,
    NotAllowed,
    TransitionRefused,
)
from escalations.models import (
    ACTIVE_STATUSES,
    Escalation,
    EventType,
    LadderLevel,
    Origin,
    Status,
    TeamPolicy,
    Verb,
)
from escalations.outbox import EVENT_ORDER_LOCK  # noqa: F401  (named by tests of the lock order)
from escalations.targets import due_times, targets_for
from escalations.team_config import stamps_read_once, team_config
from escalations.wording import iso, name_of, when
from supervisors.models import Role
from supervisors.selectors import supervisors_on_duty

# --- Opening ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenResult:
    escalation: Escalation
    created: bool  # False: evidence was added to the conversation's open escalation


@retry_if_busy
@stamps_read_once()  # it reads the team's targets, hours, policy and ladder: one stamp query for all
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
    conversation_locked: bool = False,
    conversation_new: bool = False,
) -> OpenResult:
    """Open an escalation on a conversation, or add to the one already open there.

    Missing severity, urgency, topic and area come from the rule, then the agent's
    defaults; urgency last of all from severity (critical -> high ...).

    `conversation_locked`: the caller read `conversation` under its row lock in the
    transaction this joins (post_message, the tool call), so it is neither locked nor read
    again. `conversation_new`: made in that transaction, so it has no escalation to add to.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why a human is needed."})
    agent: Agent = conversation.agent
    if not agent.escalation_enabled:
        raise EscalationDisabled(f"Escalation is turned off for the agent {agent.name}.")

    labels = classify(agent=agent, rule=rule, severity=severity, urgency=urgency, topic=topic, area=area)
    severity, urgency = labels.severity, labels.urgency
    # Rule and agent labels were checked when they were saved; a caller's are checked here.
    Label.check_names(agent.team_id, {"topic": (LabelKind.TOPIC, topic), "area": (LabelKind.AREA, area)})
    timeout_policy = choice(TimeoutPolicy, "timeout_policy", timeout_policy or agent.timeout_policy)
    if timeout_policy == TimeoutPolicy.ANSWER and not agent.timeout_guidance.strip():
        raise ValidationError(
            {"timeout_policy": f"The agent {agent.name} has no default guidance to answer with."}
        )
    topic, area = labels.topic, labels.area
    now = timezone.now()
    evidence_items = [{**item, "at": item.get("at", now.isoformat())} for item in (evidence or [])]
    actor_label = user.get_username() if user else f"agent {agent.slug}"

    # No savepoint: callers (the tool call, post_message) open it inside their own
    # transaction and let any error roll the whole of it back, so a savepoint
    # would only cost two round trips per escalation.
    with transaction.atomic(savepoint=False):
        # Serialises openers on one conversation, so two triggers at once still
        # make one card (the partial unique constraint backs this up).
        if not (conversation_locked or conversation_new):
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        current = None if conversation_new else rows.lock_active_escalation_of(conversation)
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
            audit += f" (assigned to {name_of(assigned.user)}: {assigned.how})"
        rows.insert_with_history(escalation, user=user, reason=audit)
        # A conversation the tool call has just made awaiting a human needs no UPDATE.
        if blocking and conversation.status != ConversationStatus.AWAITING_HUMAN:
            rows.set_conversation_status([conversation], ConversationStatus.AWAITING_HUMAN)
        event = outbox.append_event(escalation, EventType.CREATED, user=user, agent=None if user else agent)
        metrics.escalation_opened(escalation)
        outbox.email_on_commit([(event.pk, _told_of_new(escalation))])
    return OpenResult(escalation, created=True)


def _told_of_new(escalation: Escalation) -> list[str]:
    """Usernames emailed about a new escalation, as the team's policy says: its assignee, and the
    team's supervisors on duty when it is critical."""
    policy = TeamPolicy.of(escalation.team_id)
    told = set()
    if escalation.assigned_to and policy.email_assigned:
        told.add(name_of(escalation.assigned_to))
    if escalation.severity == Severity.CRITICAL and policy.email_new_critical:
        told.update(supervisors_on_duty([escalation.team_id])[escalation.team_id])
    return sorted(told)


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
    rows.save_with_history([(escalation, f"Evidence added by {actor_label}: {reason}")], user=user)
    outbox.append_event(
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
    urgency = choice(Urgency, "urgency", urgency)
    reason = reason.strip()
    with transaction.atomic():
        escalation = rows.lock(escalation_id)
        transitions.require_team_member(user, escalation)
        transitions.require_active(escalation)
        if escalation.urgency == urgency:
            return escalation
        previous = escalation.urgency
        changes = _set_urgency(escalation, urgency, now=timezone.now())
        audit = f"Urgency {previous} → {urgency}" + (f": {reason}" if reason else "")
        rows.save_with_history([(escalation, audit)], user=user)
        outbox.append_event(
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
            changes[field] = [iso(old), iso(new)] if field != "urgency" else [old, new]
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
        escalation = rows.lock(escalation_id)
        if escalation.status == Status.CLAIMED and escalation.claimed_by_id == user.pk:
            transitions.require_team_member(user, escalation)
            return escalation
        transitions.require(escalation, Verb.CLAIM, user=user)
        transitions.move(escalation, Verb.CLAIM)
        escalation.claimed_by = user
        escalation.claimed_at = timezone.now()
        escalation.claim_expires_at = escalation.claimed_at + _lease(escalation)
        escalation.next_level_at = None  # someone has it: the ladder stops climbing
        _schedule_reminder(escalation, escalation.resolution_due_at)
        rows.save_with_history([(escalation, reason or "Claimed")], user=user)
        outbox.append_event(escalation, EventType.CLAIMED, user=user)
        metrics.escalation_claimed(escalation)
    return escalation


@retry_if_busy
def extend_claim(*, escalation_id: int, user: AbstractBaseUser) -> Escalation:
    """The claimer renews the claim: it now lasts the urgency's full claim time from now."""
    with transaction.atomic():
        escalation = rows.lock(escalation_id)
        transitions.require(escalation, Verb.EXTEND, user=user)
        transitions.move(escalation, Verb.EXTEND)
        previous = escalation.claim_expires_at
        escalation.claim_expires_at = timezone.now() + _lease(escalation)
        rows.save_with_history(
            [(escalation, f"Claim extended to {when(escalation.claim_expires_at)}")], user=user
        )
        outbox.append_event(
            escalation,
            EventType.UPDATED,
            user=user,
            extra={
                "changes": {"claim_expires_at": [iso(previous), iso(escalation.claim_expires_at)]},
                "reason": "claim extended",
            },
        )
    return escalation


def _lease(escalation: Escalation) -> dt.timedelta:
    # Wall-clock time, not working time: a lease is about the person holding it now.
    return dt.timedelta(
        minutes=targets_for(team_id=escalation.team_id, urgency=escalation.urgency).claim_minutes
    )


@retry_if_busy
def release(*, escalation_id: int, user: AbstractBaseUser, reason: str = "") -> Escalation:
    """Give a claimed escalation back to the queue: the claimer, or a team owner."""
    with transaction.atomic():
        escalation = rows.lock(escalation_id)
        transitions.require(escalation, Verb.RELEASE, user=user)
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
        transitions.move(escalation, Verb.RELEASE)
        escalation.claimed_by = None
        escalation.claimed_at = None
        escalation.claim_expires_at = None
        _schedule_reminder(escalation, escalation.response_due_at)
        # Unclaimed again: the climb goes on from the level reached, its clock restarted.
        _schedule_climb(escalation, start=now or timezone.now())
    rows.save_with_history(changes, user=user, fields=_RELEASE_FIELDS)
    outbox.append_events(
        [
            (
                escalation,
                EventType.RELEASED,
                {"previous_claimer": name_of(previous[escalation.pk]), "reason": reason},
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
        escalation = rows.lock(escalation_id, conversation_first=True)
        transitions.require(escalation, Verb.RESPOND, user=user)
        now = timezone.now()
        if escalation.status == Status.OPEN:
            escalation.claimed_by = user
            escalation.claimed_at = now
            metrics.escalation_claimed(escalation)
        transitions.move(escalation, Verb.RESPOND)
        escalation.responder = user
        escalation.guidance = guidance
        escalation.closed_at = now
        _set_needed(escalation, needed, user=user, now=now)
        _stop_timers(escalation)
        rows.save_with_history([(escalation, reason or "Responded with guidance")], user=user)
        rows.resume_conversations([escalation])
        outbox.append_event(escalation, EventType.RESOLVED, user=user)
        metrics.escalation_closed(escalation)
    return escalation


@retry_if_busy
def dismiss(
    *, escalation_id: int, user: AbstractBaseUser, note: str = "", needed: bool | None = None
) -> Escalation:
    """Close without guidance: the agent proceeds alone. `needed`: as for respond."""
    with transaction.atomic():
        escalation = rows.lock(escalation_id, conversation_first=True)
        transitions.require(escalation, Verb.DISMISS, user=user)
        transitions.move(escalation, Verb.DISMISS)
        escalation.responder = user
        escalation.closing_note = note.strip()
        escalation.closed_at = timezone.now()
        _set_needed(escalation, needed, user=user, now=escalation.closed_at)
        _stop_timers(escalation)
        rows.save_with_history([(escalation, note.strip() or "Dismissed")], user=user)
        rows.resume_conversations([escalation])
        outbox.append_event(escalation, EventType.DISMISSED, user=user)
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
        escalation = rows.lock(escalation_id)
        transitions.require_team_member(user, escalation)
        previous = escalation.needed
        if previous is needed:
            return escalation
        _set_needed(escalation, needed, user=user, now=timezone.now())
        rows.save_with_history([(escalation, f"Marked {_needed_word(needed)}")], user=user)
        outbox.append_event(
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
        escalation = rows.lock(escalation_id, conversation_first=True)
        transitions.require(escalation, Verb.WITHDRAW, agent=agent)
        transitions.move(escalation, Verb.WITHDRAW)
        escalation.closing_note = reason.strip()
        escalation.closed_at = timezone.now()
        _stop_timers(escalation)
        rows.save_with_history(
            [(escalation, f"Withdrawn by agent {agent.slug}: {reason or 'no reason given'}")], user=None
        )
        rows.resume_conversations([escalation])
        outbox.append_event(escalation, EventType.WITHDRAWN, agent=agent)
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
        escalations = rows.lock_due(due, escalation_ids)
        if not escalations:
            return 0
        for escalation in escalations:
            setattr(escalation, breached_field, now)
        rows.save_with_history(
            [
                (e, f"{TIMER_REASON_PREFIX}{target} target passed (due {when(getattr(e, due_field))})")
                for e in escalations
            ],
            user=None,
            fields=[breached_field],
            guard=due,
        )
        events = outbox.append_events(
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
        outbox.email_on_commit(
            [(event.pk, told[event.escalation_id]) for event in events if event.escalation_id in told]
        )
    return len(escalations)


def _holders_or_teams(escalations: list[Escalation]) -> dict[int, list[str]]:
    """Per escalation id, whom a timer's notice concerns: the claimer if claimed, else the team's
    supervisors on duty. One query for the lot."""
    unclaimed_teams = {e.team_id for e in escalations if e.status != Status.CLAIMED}
    on_duty = supervisors_on_duty(unclaimed_teams) if unclaimed_teams else {}
    return {
        e.pk: [name_of(e.claimed_by)] if e.status == Status.CLAIMED else on_duty[e.team_id]
        for e in escalations
    }


@retry_if_busy
def expire_claim(*, escalation_ids: list[int], now: dt.datetime | None = None) -> int:
    """Claims past their lease return to the queue, as releases with the reason "claim expired"."""
    now = now or timezone.now()
    due = Escalation.objects.filter(status=Status.CLAIMED, claim_expires_at__lte=now)
    with transaction.atomic():
        escalations = rows.lock_due(due, escalation_ids)
        _release(
            [(e, f"{TIMER_REASON_PREFIX}claim by {_lapsed_claim(e)}") for e in escalations],
            user=None,
            reason="claim expired",
            now=now,
        )
    return len(escalations)


def _lapsed_claim(escalation: Escalation) -> str:
    return f"{name_of(escalation.claimed_by)} expired ({when(escalation.claim_expires_at)})"


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
        escalations = rows.lock_due(due, rows.with_conversation_locked(due, escalation_ids))
        if not escalations:
            return 0
        changes, events = [], []
        for escalation in escalations:
            due_text = when(escalation.resolution_due_at)
            guidance = escalation.agent.timeout_guidance.strip()
            # The agent's guidance may have been emptied since: dismissing then beats an empty answer.
            answer = escalation.timeout_policy == TimeoutPolicy.ANSWER and guidance
            escalation.closed_at = now
            escalation.closed_automatically = True
            # The timeout answers or dismisses as a person would: the same transitions.
            transitions.move(escalation, Verb.RESPOND if answer else Verb.DISMISS)
            if answer:
                escalation.guidance = guidance
                audit = (
                    f"{TIMER_REASON_PREFIX}no answer by {due_text}: "
                    "answered with the agent's default guidance"
                )
            else:
                escalation.closing_note = (
                    f"No answer by the resolution target ({due_text}): dismissed by the timeout policy."
                )
                audit = f"{TIMER_REASON_PREFIX}no answer by {due_text}: dismissed"
            _stop_timers(escalation)
            changes.append((escalation, audit))
            event_type = EventType.RESOLVED if answer else EventType.DISMISSED
            events.append((escalation, event_type, {"automatic": True, "reason": "timeout"}))
        rows.save_with_history(changes, user=None, fields=_TIMEOUT_FIELDS, guard=due)
        rows.resume_conversations(escalations)
        outbox.append_events(events)
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
        escalations = rows.lock_due(due, escalation_ids)
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
        rows.update_guarded(due, escalations, ["reminded_at", "next_reminder_at"])
        recipients = _holders_or_teams([e for e, _, _ in reminded])
        events = outbox.append_events(
            [
                (
                    e,
                    EventType.REMINDER,
                    {"target": target.value, "due_at": due_at.isoformat(), "recipients": recipients[e.pk]},
                )
                for e, target, due_at in reminded
            ]
        )
        outbox.email_on_commit(
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
        escalation.team_id,
        ("ladder", number),
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
        escalations = rows.lock_due(due, escalation_ids)
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
        rows.update_guarded(due, stopped, ["next_level_at"])
        # One query per level reached in this batch (a team's ladder has a few), not per escalation.
        levels = {level.pk: level for _, level in climbing}
        notified = {pk: sorted(name_of(u) for u in ladder_recipients(level)) for pk, level in levels.items()}
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
        rows.save_with_history(changes, user=None, fields=["level", "next_level_at"], guard=due)
        written = outbox.append_events(events)
        outbox.email_on_commit(
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
