"""Policy rules: the pure half (what is sent to the judge, how its answer is read, the evidence).

A policy rule asks a language model whether the conversation breaks a policy
the admin wrote in words. The network call is agents.policy_judge's; nothing
here does I/O, so the matcher stays pure and all of this is tested without a
server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.engine.matcher import ROLES_FOR, SEVERITY_RANK, MessageView, RuleHit, RuleSpec, rule_hit

KIND = "policy"
DEFAULT_LAST_N = 6
SEVERITIES = ("info", "warning", "critical")
# What is kept of a verdict: a model may answer at length, a card shows a line.
REASON_CHARS = 300
EVIDENCE_ITEMS = 5
EVIDENCE_CHARS = 300
# Messages are sent as the conversation's roles; tool and system messages are left out
# (tool output is long and rarely what a policy is about).
SENT_ROLES = ("user", "agent")

SYSTEM_PROMPT = (
    "You review a conversation between a customer (user) and an AI agent, and decide whether a "
    "human must take over according to the policy below. Answer with one JSON object only, with "
    'exactly these fields: "escalate" (true or false), "severity" ("info", "warning" or '
    '"critical"), "reason" (one sentence a supervisor reads), "evidence" (a list of short '
    "quotes from the conversation that support the decision; empty if none).\n\n"
    "The agent's job description:\n{description}\n\n"
    "The policy (when to escalate):\n{policy}"
)


# Outcomes of judging one rule on one message: the metrics' labels and the evidence's "skipped".
ESCALATE = "escalate"
NO = "no"
SKIPPED_TIMEOUT = "skipped_timeout"  # no verdict within the budget
SKIPPED_ERROR = "skipped_error"  # could not connect, 5xx, or another refusal
SKIPPED_RATE_LIMITED = "skipped_rate_limited"  # 429
SKIPPED_MALFORMED = "skipped_malformed"  # an answer that is not a verdict
SKIPPED_BUSY = "skipped_busy"  # every slot of the process taken for the whole budget
SKIPPED_UNCONFIGURED = "skipped_unconfigured"  # no judge set in this server's environment
SKIPPED_NOT_RUN = "skipped_not_run"  # the rule bench stopped asking a judge that failed


class MalformedVerdict(ValueError):
    """The judge answered, but not with a verdict this module can read; the message says what is wrong."""


@dataclass(frozen=True)
class Verdict:
    escalate: bool
    severity: str
    reason: str
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "escalate": self.escalate,
            "severity": self.severity,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Judgement:
    """One policy rule judged (or not) on one message."""

    spec: RuleSpec
    outcome: str
    verdict: Verdict | None = None
    detail: str = ""  # why it was skipped, in words a supervisor can read
    cached: bool = False
    seconds: float | None = None  # the call's duration; None when no call was made
    recorded: dict = field(default_factory=dict)  # kept in the hit's evidence (model, cached, …)

    @property
    def skipped(self) -> bool:
        return self.outcome not in (ESCALATE, NO)


def combine(
    hits: Sequence[RuleHit],
    judgements: Sequence[Judgement],
    history: Sequence[MessageView],
    *,
    current: Sequence[RuleSpec] | None = None,
) -> tuple[list[RuleHit], list[dict]]:
    """The matcher's hits with the yes verdicts added, most severe first, and the skips' evidence.

    current: the policy rules in force now; a judgement of a rule no longer among them
    (deleted or disabled while it was judged) is dropped. None: all are kept.
    """
    still = None if current is None else {spec.id for spec in current}
    judged = [j for j in judgements if still is None or j.spec.id in still]
    found = [
        hit(j.spec, j.verdict, history, judged=j.recorded) for j in judged if j.verdict and j.verdict.escalate
    ]
    skipped = [
        skip_evidence(j.spec, history, outcome=j.outcome, detail=j.detail) for j in judged if j.skipped
    ]
    # sorted() is stable: equal severities keep the matcher's order, then the policy rules'.
    ranked = sorted([*hits, *found], key=lambda h: -SEVERITY_RANK.get(h.severity, 0))
    return ranked, skipped


def applies_to(spec: RuleSpec, role: str) -> bool:
    """Whether the rule judges a new message of this role (as the matcher's rules do)."""
    return role in ROLES_FOR.get(spec.applies_to, ROLES_FOR["user"])


def last_n(spec: RuleSpec) -> int:
    return int(spec.parameters.get("last_n", DEFAULT_LAST_N))


def messages_sent(spec: RuleSpec, history: Sequence[MessageView]) -> list[MessageView]:
    """The last_n user and agent messages of history, the newest (the one judged) last."""
    return [view for view in history if view.role in SENT_ROLES][-last_n(spec) :]


def chat_request(spec: RuleSpec, *, model: str, description: str, history: Sequence[MessageView]) -> dict:
    """The body of an OpenAI-compatible chat-completions request for this rule and history."""
    system = SYSTEM_PROMPT.format(
        description=description.strip() or "(none given)", policy=str(spec.parameters.get("policy", ""))
    )
    conversation = "\n".join(f"{view.role}: {view.content}" for view in messages_sent(spec, history))
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": "The conversation, oldest first; judge it as of its last message:\n"
                + conversation,
            },
        ],
        # JSON mode: OpenAI, Azure, vLLM, Ollama's /v1 and llama.cpp's server all take it.
        "response_format": {"type": "json_object"},
        "temperature": 0,
    }


def request_digest(body: dict, *, url: str) -> str:
    """Names the exact question asked: same digest, same answer (the cache key's last part)."""
    canonical = json.dumps([url, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_chat_response(raw: Any) -> Verdict:
    """The verdict in a chat-completions response body (already decoded from JSON)."""
    try:
        content = raw["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedVerdict("the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise MalformedVerdict("the answer's message content is not text")
    return parse_verdict(content)


def parse_verdict(content: str) -> Verdict:
    """Strict: a JSON object with escalate (bool), severity, reason (text), evidence (text or list)."""
    try:
        data = json.loads(content)
    except ValueError:
        raise MalformedVerdict("the verdict is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedVerdict("the verdict is not a JSON object")
    escalate = data.get("escalate")
    if not isinstance(escalate, bool):
        raise MalformedVerdict('the verdict has no "escalate" true or false')
    severity = data.get("severity")
    if severity not in SEVERITIES:
        raise MalformedVerdict(f'the verdict\'s "severity" is not one of {", ".join(SEVERITIES)}')
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise MalformedVerdict('the verdict has no "reason" text')
    evidence = data.get("evidence", [])
    if isinstance(evidence, str):
        evidence = [evidence] if evidence.strip() else []
    if not isinstance(evidence, list) or not all(isinstance(item, str) for item in evidence):
        raise MalformedVerdict('the verdict\'s "evidence" is not text or a list of texts')
    return Verdict(
        escalate=escalate,
        severity=severity,
        reason=" ".join(reason.split())[:REASON_CHARS],
        evidence=tuple(item.strip()[:EVIDENCE_CHARS] for item in evidence if item.strip())[:EVIDENCE_ITEMS],
    )


def hit(spec: RuleSpec, verdict: Verdict, history: Sequence[MessageView], *, judged: dict) -> RuleHit:
    """The hit of a yes verdict on the newest message of history (the whole message is the span).

    The verdict's severity is the hit's (the model weighed this conversation); the rule's
    urgency, topic and area still apply. `judged` is what the judge recorded (model,
    cached, duration), kept in the evidence; {verdict} in the reason is the model's reason.
    """
    newest = history[-1]
    return rule_hit(
        spec,
        newest,
        len(history) - 1,
        0,
        len(newest.content),
        severity=verdict.severity,
        placeholders={"verdict": verdict.reason},
        verdict=verdict.as_dict(),
        **judged,
    )


def skip_evidence(spec: RuleSpec, history: Sequence[MessageView], *, outcome: str, detail: str) -> dict:
    """An evidence item saying a policy rule was not checked on this message, and why.

    It has no start/end: it quotes nothing, so the console highlights nothing for it.
    """
    newest = history[-1]
    item: dict[str, Any] = {
        "source": "rule",
        "rule_id": spec.id,
        "rule_name": spec.name,
        "kind": spec.kind,
        "skipped": outcome,
        "text": f"Not checked: {detail}",
        "message_index": len(history) - 1,
        "role": newest.role,
    }
    if newest.id is not None:
        item["message_id"] = newest.id
    return item
