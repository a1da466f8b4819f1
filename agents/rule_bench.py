"""The rule bench: prove an agent's rules do what they mean before they go live.

- run_rule_tests(agent): replays each stored RuleTestCase message by message,
  as post_message would see the conversation arrive, and checks whether the
  rules escalate it (and with the expected rule).
- what_if(rule, days): how many of the agent's stored conversations of the last
  N days one rule (saved or being edited) would have escalated, with examples.
- parse_script(text): the paste box's "user: …" / "agent: …" lines as messages.
Everything here reads; nothing writes.

Policy rules: rule tests ask the judge, as a post would (cached per message, so a
second run asks nothing new); a test whose outcome could hang on a policy rule
that was not checked (no judge configured, a timeout…) does not pass and says
why. What-if does not run them: it would send thousands of conversations to
the model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from agents import policy_judge
from agents.engine import policy
from agents.engine.cache import matcher_for, spec_of
from agents.engine.matcher import Matcher, MessageView, RuleHit, compile_rules
from agents.models import Agent, Conversation, EscalationRule, MessageRole, RuleTestCase

# What-if reads at most this many recent conversations, so the admin page
# answers in about a second even for a busy agent.
WHAT_IF_MAX_CONVERSATIONS = 2000
WHAT_IF_EXAMPLES = 5


def replay(
    matcher: Matcher, messages: list[MessageView], *, policies: _PolicyBench | None = None
) -> tuple[int, list[RuleHit]] | None:
    """The first message (index) at which the matcher (and the policy rules, if given) fires,
    with its hits; None if it never does."""
    for index in range(len(messages)):
        history = messages[: index + 1]
        hits = matcher.evaluate(history)
        if policies is not None:
            hits = policies.judge(history, hits)
        if hits:
            return index, hits
    return None


# Outcomes after which the rest of a run does not ask the judge: it is down or overloaded,
# and each further call could cost the whole budget again.
_GIVE_UP_AFTER = (
    policy.SKIPPED_TIMEOUT,
    policy.SKIPPED_ERROR,
    policy.SKIPPED_RATE_LIMITED,
    policy.SKIPPED_BUSY,
)


class _PolicyBench:
    """The agent's policy rules judged during one rule-test run, and what could not be checked."""

    def __init__(self, agent: Agent, rules: tuple) -> None:
        self.agent, self.rules = agent, rules
        self.gave_up = ""  # why the rest of the run does not ask
        self.unchecked: dict[tuple[str, str], list[int]] = {}  # (rule, why) -> message numbers

    def judge(self, history: list[MessageView], hits: list[RuleHit]) -> list[RuleHit]:
        rules = [spec for spec in self.rules if policy.applies_to(spec, history[-1].role)]
        if not rules:
            return hits
        if self.gave_up:
            judgements = [
                policy.Judgement(spec, policy.SKIPPED_NOT_RUN, detail=self.gave_up) for spec in rules
            ]
        else:
            judgements = policy_judge.judge(
                description=self.agent.description,
                rules_version=self.agent.rules_version,
                rules=rules,
                history=history,
            )
            failed = next((j for j in judgements if j.outcome in _GIVE_UP_AFTER), None)
            if failed is not None:
                self.gave_up = f"not asked after the judge failed earlier in this run ({failed.detail})"
        hits, skipped = policy.combine(hits, judgements, history)
        for item in skipped:
            why = item["text"].removeprefix("Not checked: ")
            self.unchecked.setdefault((item["rule_name"], why), []).append(len(history))
        return hits

    def take_notes(self) -> tuple[str, ...]:
        """What was not checked in the case just replayed (and forget it, for the next case)."""
        notes = tuple(
            f"the policy rule {name} was not checked on message {', '.join(map(str, numbers))}: {why}"
            for (name, why), numbers in self.unchecked.items()
        )
        self.unchecked = {}
        return notes


@dataclass(frozen=True)
class RuleTestResult:
    case: RuleTestCase
    passed: bool
    fired_at: int | None  # index of the message that fired, None if nothing fired
    hits: list[RuleHit] = field(default_factory=list)
    problem: str = ""  # why it failed, in words
    notes: tuple[str, ...] = ()  # policy rules that could not be checked, and why

    @property
    def fired_rules(self) -> list[str]:
        return [hit.rule_name for hit in self.hits]


def run_rule_tests(agent: Agent) -> list[RuleTestResult]:
    agent = Agent.objects.get(pk=agent.pk)  # a fresh rules_version for the matcher cache
    matcher = matcher_for(agent)
    policies = _PolicyBench(agent, matcher.policy_rules) if matcher.policy_rules else None
    results = []
    for case in agent.rule_tests.select_related("expected_rule").order_by("name"):
        views = [MessageView(role=m["role"], content=m["content"]) for m in case.messages]
        fired = replay(matcher, views, policies=policies)
        index, hits = fired if fired else (None, [])
        result = _result(case, index, hits)
        notes = policies.take_notes() if policies is not None else ()
        results.append(_with_notes(result, notes) if notes else result)
    return results


def _with_notes(result: RuleTestResult, notes: tuple[str, ...]) -> RuleTestResult:
    """A result that may hang on an unchecked policy rule does not pass, and says why.

    Only a test that should escalate and did, by the expected rule, stands: the
    unchecked rule could have added a hit, not taken one away.
    """
    said = "; ".join(notes)
    if result.passed and result.case.should_escalate:
        return dataclasses.replace(result, notes=notes)
    if result.passed:
        problem = f"Not conclusive: {said}."
    else:
        problem = f"{result.problem} (Not conclusive: {said}.)"
    return dataclasses.replace(result, passed=False, problem=problem, notes=notes)


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
    note: str = ""  # why nothing was replayed (a policy rule)


def what_if(rule: EscalationRule, *, days: int) -> WhatIf:
    """Replay the agent's recent conversations against this one rule, saved or not (it is not stored)."""
    if rule.kind == policy.KIND:
        return WhatIf(
            days,
            0,
            0,
            [],
            False,
            note="What-if does not replay policy rules: it would send up to "
            f"{WHAT_IF_MAX_CONVERSATIONS} conversations to the model, message by message. "
            "Try it on a pasted conversation in the agent's rule bench, or with rule tests.",
        )
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


@dataclass(frozen=True)
class Preview:
    """What an edited rule (not saved) does: on a conversation the admin typed, and over the
    agent's recent conversations (what_if)."""

    tried: bool  # a conversation was given
    fired_at: int | None  # the message (index) of it that fires, None: it does not fire
    evidence: list[dict[str, Any]]
    recent: WhatIf | None
    note: str = ""  # why part of it was not run


PREVIEW_DAYS = 30


def preview(rule: EscalationRule, *, messages: list[dict[str, str]]) -> Preview:
    """Call with a rule that passed full_clean(); nothing is saved. ModelUnavailable for intent
    rules when the embedding model cannot be loaded."""
    fired_at, evidence, note = None, [], ""
    if messages and rule.kind == policy.KIND:
        note = "Policy rules are judged by the model: try them on the agent's rule bench."
    elif messages:
        views = [MessageView(role=m["role"], content=m["content"]) for m in messages]
        fired = replay(compile_rules([spec_of(rule)]), views)
        if fired is not None:
            fired_at, hits = fired
            evidence = [item for hit in hits for item in hit.evidence]
    recent = what_if(rule, days=PREVIEW_DAYS) if rule.agent_id else None
    return Preview(bool(messages), fired_at, evidence, recent, note)


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
