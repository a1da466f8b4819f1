"""Writes to agents and their rules, and messages with the trigger engine run on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from agents import policy_judge
from agents.engine import MessageView, RuleHit
from agents.engine import policy as policy_rules
from agents.engine.cache import matcher_for, rule_row
from agents.errors import ConversationPaused, LabelInUse
from agents.models import (
    Agent,
    Conversation,
    ConversationStatus,
    EscalationRule,
    Label,
    LabelKind,
    Message,
    MessageRole,
    RuleKind,
    RuleTestCase,
)
from escalation_project.sqlite_retry import retry_if_busy
from escalations.choices import classify
from escalations.models import ACTIVE_STATUSES, Escalation, Origin
from escalations.services import open_escalation
from escalations.team_config import stamps_read_once
from escalations.team_settings import team_settings_changed
from supervisors.models import Membership, Role, Team
from supervisors.selectors import has_team_role


def bump_rules_version(*, agent_id: int) -> None:
    """Call after any write to an agent's rules, inside the same transaction.

    One UPDATE with F() so two editors saving at once both count.
    """
    Agent.objects.filter(pk=agent_id).update(rules_version=F("rules_version") + 1)


# --- Messages and the trigger engine ----------------------------------------------------

# How much of the conversation the matcher sees: enough for sentiment's last_n
# (at most 50 of one role is allowed, but 20 messages cover any sane setting)
# and for loop's repeats, without reading a long conversation on every post.
HISTORY_WINDOW = 20


@dataclass(frozen=True)
class PostedMessage:
    message: Message
    escalation: Escalation | None  # opened, or added to, by this message
    hits: list[RuleHit]
    # The conversation waits for a person (status awaiting_human) once this message is recorded:
    # paused by this message's escalation or by an earlier one still unanswered.
    paused: bool
    # Policy rules not checked on this message (the judge timed out, failed…), as evidence items.
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    hits: list[RuleHit]
    would_open: dict[str, Any] | None  # what open_escalation would be called with; None: nothing fires
    skipped: list[dict[str, Any]] = field(default_factory=list)  # policy rules not checked, and why


def post_message(
    *, conversation: Conversation, role: str, content: str, metadata: dict[str, Any] | None = None
) -> PostedMessage:
    """Record a message and run the agent's rules on it; a firing rule opens (or adds to) an escalation.

    All in one transaction: if opening the escalation fails, the message is not kept either.
    """
    return post_message_to(
        # Read afresh, as post_message_to asks: `conversation` may have been read long ago.
        agent=Agent.objects.select_related("team").get(pk=conversation.agent_id),
        conversation_id=conversation.pk,
        role=role,
        content=content,
        metadata=metadata,
    )


@retry_if_busy
def post_message_to(
    *, agent: Agent, conversation_id: int, role: str, content: str, metadata: dict[str, Any] | None = None
) -> PostedMessage:
    """post_message on the agent's conversation `conversation_id`, read only once, locked, in the
    transaction (the API's hot path: no read of it beforehand to check whose it is).
    Conversation.DoesNotExist when the agent has no conversation of that id, another agent's
    included. `agent` (with its team) read in this request, as matcher_for asks: the API's key
    check reads both, so the locked read below reads neither again.
    """
    _check_message(role, content, field="role")
    # Before the transaction: the judge may take seconds, and holding the conversation's row
    # lock (or SQLite's one write lock) that long would stall every other post meanwhile.
    judgements = _judge_before_posting(
        agent=agent, conversation_id=conversation_id, role=role, content=content
    )
    with transaction.atomic():
        # Locked so a supervisor's answer and this check cannot interleave, and
        # two posts to one conversation evaluate their histories in order. The
        # conversation's row only: locking the agent row too serialised every message of
        # an agent and deadlocked with an agent's withdraw or tool call holding the
        # event-order lock and inserting an event that references the agent (found by
        # bench/soak.py). No join: the agent and its team (whose settings stamp an opening
        # below uses, escalations.team_config) are the ones read in this request; joining
        # them here again was ~0.3 ms of SQL compiling per message.
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id, agent=agent)
        conversation.agent = agent
        if role == MessageRole.AGENT:
            paused_by = (
                Escalation.objects.filter(
                    conversation=conversation, status__in=ACTIVE_STATUSES, blocking=True
                )
                .values_list("pk", flat=True)
                .first()
            )
            if paused_by is not None:
                raise ConversationPaused(
                    "This conversation is paused while a person handles escalation "
                    f"#{paused_by}: wait for their answer before the agent replies.",
                    escalation_id=paused_by,
                )
        message = Message.objects.create(
            conversation=conversation, role=role, content=content, metadata=metadata or {}
        )
        if not agent.escalation_enabled:
            return PostedMessage(message, None, [], paused=_is_paused(conversation.status))
        # The three columns the rules read, as tuples: twenty Message rows built (their
        # metadata parsed, their times converted) were a tenth of a quiet message's CPU.
        recent = list(
            Message.objects.filter(conversation=conversation)
            .order_by("-created_at", "-pk")
            .values_list("role", "content", "pk")[:HISTORY_WINDOW]
        )
        history = [MessageView(role=role, content=content, id=pk) for role, content, pk in reversed(recent)]
        matcher = matcher_for(agent)
        hits = matcher.evaluate(history)
        skipped: list[dict[str, Any]] = []
        if judgements:
            hits, skipped = policy_rules.combine(hits, judgements, history, current=matcher.policy_rules)
        if not hits:
            return PostedMessage(message, None, [], paused=_is_paused(conversation.status), skipped=skipped)
        headline = hits[0]
        with stamps_read_once(agent.team):
            result = open_escalation(
                conversation=conversation,
                conversation_locked=True,
                origin=Origin.RULE,
                rule=rule_row(agent, headline.rule_id),
                reason=headline.reason,
                severity=headline.severity,
                urgency=headline.urgency or None,
                topic=headline.topic,
                area=headline.area,
                blocking=True,
                evidence=[*(item for hit in hits for item in hit.evidence), *skipped],
            )
    # open_escalation keeps the locked conversation's status in step with the row it updates.
    return PostedMessage(
        message, result.escalation, hits, paused=_is_paused(conversation.status), skipped=skipped
    )


def _is_paused(conversation_status: str) -> bool:
    return conversation_status == ConversationStatus.AWAITING_HUMAN


def _judge_before_posting(
    *, agent: Agent, conversation_id: int, role: str, content: str
) -> list[policy_rules.Judgement]:
    """The agent's policy rules judged on the history plus the message about to be posted.

    Outside any lock, so the history read here may miss a message posted at the same
    moment; the verdicts are combined with the matcher's hits inside the transaction.
    An agent with no policy rules for this role costs nothing here: its matcher is cached.
    """
    rules = [spec for spec in matcher_for(agent).policy_rules if policy_rules.applies_to(spec, role)]
    if not rules or not agent.escalation_enabled:
        return []
    if (
        role == MessageRole.AGENT
        and Escalation.objects.filter(
            conversation_id=conversation_id, agent=agent, status__in=ACTIVE_STATUSES, blocking=True
        ).exists()
    ):
        return []  # the post will be refused as paused: no call for it
    # The agent's own conversation only: the id is not checked yet (post_message_to).
    mine = Message.objects.filter(conversation_id=conversation_id, conversation__agent=agent)
    recent = list(mine.order_by("-created_at", "-pk")[: HISTORY_WINDOW - 1])
    history = [MessageView(role=m.role, content=m.content, id=m.pk) for m in reversed(recent)]
    history.append(MessageView(role=role, content=content, id=None))
    return policy_judge.judge(
        description=agent.description, rules_version=agent.rules_version, rules=rules, history=history
    )


def evaluate_conversation(*, agent: Agent, messages: list[dict[str, Any]]) -> Evaluation:
    """A dry run of the agent's saved rules on the newest of `messages`; writes nothing."""
    if not isinstance(messages, list) or not messages:
        raise ValidationError({"messages": "Give at least one message as {role, content}."})
    history = []
    for number, item in enumerate(messages[-HISTORY_WINDOW:], start=1):
        if not isinstance(item, dict):
            raise ValidationError({"messages": f"Message {number} must be an object with role and content."})
        _check_message(item.get("role"), item.get("content"), field="messages", number=number)
        history.append(MessageView(role=item["role"], content=item["content"], id=None))
    # Re-read: the caller's Agent may predate a rule edit, and the stamp decides the cache.
    agent = Agent.objects.get(pk=agent.pk)
    matcher = matcher_for(agent)
    hits = matcher.evaluate(history)
    # Policy rules are judged here too (a dry run shows what a post would do): the verdict
    # cache means a post of the same messages afterwards asks the judge no second time.
    rules = [spec for spec in matcher.policy_rules if policy_rules.applies_to(spec, history[-1].role)]
    not_checked: list[dict[str, Any]] = []
    if rules:
        judgements = policy_judge.judge(
            description=agent.description, rules_version=agent.rules_version, rules=rules, history=history
        )
        hits, not_checked = policy_rules.combine(hits, judgements, history)
    skipped = len(messages) - len(history)
    for item in [*(item for hit in hits for item in hit.evidence), *not_checked]:
        # Indexes into the caller's list, not into the window the matcher saw.
        item["message_index"] += skipped
    if not hits or not agent.escalation_enabled:
        return Evaluation(hits, None, not_checked)
    headline = hits[0]
    # What post_message passes to open_escalation, with the same fallbacks.
    labels = classify(
        agent=agent,
        severity=headline.severity,
        urgency=headline.urgency or None,
        topic=headline.topic,
        area=headline.area,
    )
    return Evaluation(
        hits,
        {
            "origin": Origin.RULE.value,
            "rule_id": headline.rule_id,
            "rule_name": headline.rule_name,
            "reason": headline.reason,
            "severity": labels.severity.value,
            "urgency": labels.urgency.value,
            "topic": labels.topic,
            "area": labels.area,
            "blocking": True,
            "evidence": [*(item for hit in hits for item in hit.evidence), *not_checked],
        },
        not_checked,
    )


def _check_message(role: Any, content: Any, *, field: str, number: int | None = None) -> None:
    where = f"Message {number}: " if number else ""
    if role not in MessageRole.values:
        allowed = ", ".join(MessageRole.values)
        raise ValidationError({field: f"{where}role must be one of {allowed}, not {role!r}."})
    if not isinstance(content, str):
        raise ValidationError({"content" if number is None else field: f"{where}content must be text."})


# --- Configuration: agents, rules, rule tests and labels --------------------------------
#
# Each write validates with full_clean (the model's clean() is where rules, labels and
# parameters are checked, for the admin and the API alike) and names its author and a
# reason on the history row: in an API request the history middleware only sees the
# session user, not a token's, so the user is passed in rather than picked up.


def _changed(instance: Any, data: dict[str, Any]) -> list[str]:
    """The fields data would change, named as the API names them (default_assignee, not _id)."""
    return [name.removesuffix("_id") for name, value in data.items() if getattr(instance, name) != value]


def _apply(instance: Any, data: dict[str, Any], *, user: Any, reason: str) -> None:
    for name, value in data.items():
        setattr(instance, name, value)
    instance._history_user = user
    instance._change_reason = reason


def _check_contributor(user: Any, team_id: int | None, field: str) -> None:
    known = team_id is not None and Team.objects.filter(pk=team_id).exists()
    if not known or not has_team_role(user, team_id, Role.CONTRIBUTOR):
        # One message for "no such team" and "not yours", so ids of other teams stay unknown.
        raise ValidationError({field: "Pick a team where you are a contributor or owner."})


def _check_assignee(team_id: int, assignee_id: int | None) -> None:
    if (
        assignee_id is not None
        and not Membership.objects.filter(team_id=team_id, user_id=assignee_id).exists()
    ):
        raise ValidationError({"default_assignee": "Pick a member of the agent's team."})


def agent_create(*, user: Any, data: dict[str, Any]) -> Agent:
    """data: Agent fields, with team_id and default_assignee_id as ids."""
    _check_contributor(user, data.get("team_id"), "team")
    _check_assignee(data["team_id"], data.get("default_assignee_id"))
    agent = Agent()
    _apply(agent, data, user=user, reason="API: created")
    agent.full_clean()
    agent.save()
    return agent


def agent_update(*, agent_id: int, user: Any, data: dict[str, Any]) -> Agent:
    """data: the Agent fields to change (not team or slug)."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent_id)
        changed = _changed(agent, data)
        if not changed:
            return agent  # no history row saying nothing happened
        if "default_assignee_id" in data:
            _check_assignee(agent.team_id, data["default_assignee_id"])
        _apply(agent, data, user=user, reason=f"API: changed {', '.join(changed)}")
        agent.full_clean()
        # update_fields: a full save would write back rules_version as read here, and could
        # undo a concurrent rule edit's bump (the matcher cache would then miss that edit).
        agent.save(update_fields=[*data, "updated_at"])
    return agent


def agent_save(*, agent: Agent, user: Any, reason: str, fields: list[str] | None = None) -> Agent:
    """Save an agent already changed in memory (the admin's form, the demo): `fields` the
    ones changed, None for a new agent.

    An existing agent is saved with update_fields, never whole: a full save would write back
    rules_version as read, and undo a concurrent rule edit's bump (see agent_update).
    """
    _apply(agent, {}, user=user, reason=reason)
    agent.full_clean()
    if agent._state.adding or fields is None:
        agent.save()
    elif fields:
        agent.save(update_fields=[*fields, "updated_at"])
    return agent


def rule_create(*, agent: Agent, user: Any, data: dict[str, Any]) -> EscalationRule:
    rule = EscalationRule(agent=agent)
    _apply(rule, data, user=user, reason="API: created")
    return rule_save(rule=rule, user=user, reason="API: created")


def rule_save(*, rule: EscalationRule, user: Any, reason: str) -> EscalationRule:
    """Save a rule already changed in memory (the admin's form, the demo), new or not.

    With the agent's rules_version bumped in the same transaction: every process's
    matcher is rebuilt on its next read of the agent (agents.engine.cache).
    """
    _apply(rule, {}, user=user, reason=reason)
    rule.full_clean()
    with transaction.atomic():
        rule.save()
        bump_rules_version(agent_id=rule.agent_id)
    return rule


def rule_update(
    *, rule_id: int, user: Any, data: dict[str, Any], reason: str | None = None
) -> EscalationRule:
    """reason: what the audit's history row says; by default "API: changed <fields>"."""
    with transaction.atomic():
        rule = EscalationRule.objects.select_for_update().select_related("agent").get(pk=rule_id)
        changed = _changed(rule, data)
        if not changed:
            return rule  # nor a needless rebuild of every process's matcher
        _apply(rule, data, user=user, reason=reason or f"API: changed {', '.join(changed)}")
        rule.full_clean()
        rule.save()
        bump_rules_version(agent_id=rule.agent_id)
    return rule


def rule_delete(*, rule: EscalationRule, user: Any, reason: str = "API: deleted") -> None:
    with transaction.atomic():
        _apply(rule, {}, user=user, reason=reason)
        agent_id = rule.agent_id
        rule.delete()
        bump_rules_version(agent_id=agent_id)


def rule_test_create(*, agent: Agent, data: dict[str, Any]) -> RuleTestCase:
    case = RuleTestCase(agent=agent, **data)
    case.full_clean()
    case.save()
    return case


def rule_test_update(*, case: RuleTestCase, data: dict[str, Any]) -> RuleTestCase:
    for name, value in data.items():
        setattr(case, name, value)
    return rule_test_save(case=case)


def rule_test_save(*, case: RuleTestCase) -> RuleTestCase:
    """Save a rule test already changed in memory (the admin's form, the demo), new or not."""
    case.full_clean()
    case.save()
    return case


def rule_test_delete(*, case: RuleTestCase) -> None:
    case.delete()


def label_create(*, team: Team, kind: str, name: str, description: str = "") -> Label:
    return label_save(label=Label(team=team, kind=kind, name=name.strip(), description=description))


def label_save(*, label: Label) -> Label:
    """Save a label already changed in memory (the admin's form), new or not."""
    taken = f"This team already has the {label.kind} label {label.name!r}."
    # Checked by hand for a message on the field; the constraint still settles a race.
    same = Label.objects.filter(team_id=label.team_id, kind=label.kind, name=label.name).exclude(pk=label.pk)
    if same.exists():
        raise ValidationError({"name": taken})
    label.full_clean()
    try:
        with transaction.atomic():
            # A label moved to another team (the admin lets an owner pick) changes both vocabularies.
            moved_from = (
                Label.objects.filter(pk=label.pk).values_list("team_id", flat=True).first()
                if label.pk
                else None
            )
            label.save()
            for team_id in {label.team_id, moved_from} - {None}:
                team_settings_changed(team_id=team_id)
    except IntegrityError:
        raise ValidationError({"name": taken}) from None
    return label


def label_delete(*, label: Label) -> None:
    field = "topic" if label.kind == LabelKind.TOPIC else "area"
    agents = Agent.objects.filter(team_id=label.team_id, **{f"default_{field}": label.name})
    rules = EscalationRule.objects.filter(agent__team_id=label.team_id, **{field: label.name})
    users = [f"agent {agent.slug}" for agent in agents] + [f"rule {rule.pk} ({rule.name})" for rule in rules]
    if users:
        raise LabelInUse(
            f"The {label.kind} {label.name!r} is still used by {', '.join(users)}; change them first."
        )
    with transaction.atomic():
        label.delete()
        team_settings_changed(team_id=label.team_id)


def rule_draft_create(*, agent: Agent, user: Any, phrase: str) -> EscalationRule:
    """A disabled phrase rule on `phrase` (a suggestion taken up), for the what-if bench to try.

    Contributors and owners of the agent's team only; disabled, so nothing fires until
    someone has tried it and switched it on.
    """
    _check_contributor(user, agent.team_id, "agent")
    phrase = " ".join(phrase.split())
    if not phrase:
        raise ValidationError({"phrase": "Name the phrase to draft a rule on."})
    rule = EscalationRule(agent=agent)
    _apply(
        rule,
        {
            "name": f"Draft: {phrase}"[:100],
            "enabled": False,
            "kind": RuleKind.PHRASES,
            "parameters": {"phrases": [phrase]},
            "reason_template": "Mentioned “{phrase}” (draft rule from a suggestion)",
        },
        user=user,
        reason=f"Drafted from a suggestion: {phrase}",
    )
    rule.full_clean()
    with transaction.atomic():
        rule.save()
        bump_rules_version(agent_id=agent.pk)
    return rule
