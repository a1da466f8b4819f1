"""The rule bench: prove an agent's rules do what they mean before they go live.

- run_rule_tests(agent): replays each stored RuleTestCase message by message,
  as post_message would see the conversation arrive, and checks whether the
  rules escalate it (and with the expected rule).
- what_if(rule, days): how many of the agent's stored conversations of the last
  N days one rule (saved or being edited) would have escalated, with examples.
- parse_script(text): the paste box's "user: …" / "agent: …" lines as messages.
Everything here reads; nothing writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.engine.cache import matcher_for, spec_of
from agents.engine.matcher import Matcher, MessageView, RuleHit, compile_rules
from agents.models import Agent, Conversation, EscalationRule, MessageRole, RuleTestCase

# What-if reads at most this many recent conversations, so the admin page
# answers in about a second even for a busy agent.
WHAT_IF_MAX_CONVERSATIONS = 2000
WHAT_IF_EXAMPLES = 5


def replay(matcher: Matcher, messages: list[MessageView]) -> tuple[int, list[RuleHit]] | None:
    """The first message (index) at which the matcher fires, with its hits; None if it never does."""
    for index in range(len(messages)):
        hits = matcher.evaluate(messages[: index + 1])
        if hits:
            return index, hits
    return None


@dataclass(frozen=True)
class RuleTestResult:
    case: RuleTestCase
    passed: bool
    fired_at: int | None  # index of the message that fired, None if nothing fired
    hits: list[RuleHit] = field(default_factory=list)
    problem: str = ""  # why it failed, in words

    @property
    def fired_rules(self) -> list[str]:
        return [hit.rule_name for hit in self.hits]


def run_rule_tests(agent: Agent) -> list[RuleTestResult]:
    agent = Agent.objects.get(pk=agent.pk)  # a fresh rules_version for the matcher cache
    matcher = matcher_for(agent)
    results = []
    for case in agent.rule_tests.select_related("expected_rule").order_by("name"):
        views = [MessageView(role=m["role"], content=m["content"]) for m in case.messages]
        fired = replay(matcher, views)
        index, hits = fired if fired else (None, [])
        results.append(_result(case, index, hits))
    return results


def _result(case: RuleTestCase, index: int | None, hits: list[RuleHit]) -> RuleTestResult:
    names = [hit.rule_name for hit in hits]
    if not case.should_escalate:
        if hits:
            problem = f"Should not escalate, but {', '.join(names)} fired on message {index + 1}."
            return RuleTestResult(case, False, index, hits, problem)
        return RuleTestResult(case, True, None, [])
    if not hits:
        return RuleTestResult(case, False, None, [], "Should escalate, but no rule fired.")
    expected = case.expected_rule
    if expected is not None and expected.pk not in {hit.rule_id for hit in hits}:
        problem = f"Should escalate by {expected.name}, but {', '.join(names)} fired instead."
        return RuleTestResult(case, False, index, hits, problem)
    return RuleTestResult(case, True, index, hits)


@dataclass(frozen=True)
class WhatIfExample:
    conversation: Conversation
    message: str
    evidence: list[dict[str, Any]]


@dataclass(frozen=True)
class WhatIf:
    days: int
    conversations_checked: int
    would_escalate: int
    examples: list[WhatIfExample]
    truncated: bool  # more conversations in the period than were read


def what_if(rule: EscalationRule, *, days: int) -> WhatIf:
    """Replay the agent's recent conversations against this one rule, saved or not (it is not stored)."""
    matcher = compile_rules([spec_of(rule)])
    since = timezone.now() - dt.timedelta(days=days)
    conversations = list(
        Conversation.objects.filter(agent_id=rule.agent_id, created_at__gte=since)
        .order_by("-created_at")
        .prefetch_related("messages")[: WHAT_IF_MAX_CONVERSATIONS + 1]
    )
    truncated = len(conversations) > WHAT_IF_MAX_CONVERSATIONS
    conversations = conversations[:WHAT_IF_MAX_CONVERSATIONS]
    would_escalate, examples = 0, []
    for conversation in conversations:
        messages = list(conversation.messages.all())  # prefetched, in Message.Meta.ordering
        views = [MessageView(role=m.role, content=m.content, id=m.pk) for m in messages]
        fired = replay(matcher, views)
        if fired is None:
            continue
        would_escalate += 1
        if len(examples) < WHAT_IF_EXAMPLES:
            index, hits = fired
            evidence = [item for hit in hits for item in hit.evidence]
            examples.append(WhatIfExample(conversation, messages[index].content, evidence))
    return WhatIf(days, len(conversations), would_escalate, examples, truncated)


def parse_script(text: str) -> list[dict[str, str]]:
    """'user: …' / 'agent: …' lines into messages; a line without a role continues the previous one."""
    messages: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        role, sep, content = line.partition(":")
        if sep and role.strip().lower() in MessageRole.values:
            messages.append({"role": role.strip().lower(), "content": content.strip()})
        elif messages:
            messages[-1]["content"] = f"{messages[-1]['content']}\n{line.strip()}"
        else:
            roles = ", ".join(f"{r}:" for r in MessageRole.values)
            raise ValidationError(f"Line {number} needs a role first: start it with one of {roles}")
    if not messages:
        raise ValidationError("Paste at least one line, e.g. “user: I want a refund of $150”.")
    return messages
