"""matcher_for(agent): the compiled matcher of an agent, rebuilt when its rules change.

Each process keeps one matcher per agent, stamped with the Agent.rules_version
it was compiled from; every rule write bumps that column in the database
(agents.services.bump_rules_version), so every process sees the new stamp on
its next read of the agent and recompiles. Nothing to broadcast, nothing to
clear by hand.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from types import MappingProxyType

from agents.engine.matcher import Matcher, RuleSpec, compile_rules
from agents.models import Agent, EscalationRule

# agent id -> ((rules_version, created_at), matcher, the rule rows it was compiled from by id).
# created_at is in the stamp
# because a test database (or a restored backup) can reuse an agent id.
# Least recently used first; at most MAX_MATCHERS agents per process, so a
# deployment with many agents does not keep every one's phrases in memory.
_cache: OrderedDict[int, tuple[tuple[int, object], Matcher, dict[int, EscalationRule]]] = OrderedDict()
MAX_MATCHERS = 500
# One lock for all agents: compiling is rare (a rule edit) and takes milliseconds,
# and it keeps two threads from compiling the same agent at once.
_lock = threading.Lock()


def matcher_for(agent: Agent) -> Matcher:
    """Precondition: `agent.rules_version` is fresh (read in this request), or edits go unseen."""
    return _entry(agent)[1]


def rule_row(agent: Agent, rule_id: int) -> EscalationRule | None:
    """The enabled rule `rule_id` of the agent as its matcher was compiled from (the rule a hit
    names, for the escalation it opens): no query. Shared between requests: read it, never
    change or save it. Precondition as matcher_for's."""
    return _entry(agent)[2].get(rule_id)


def _entry(agent: Agent) -> tuple[tuple[int, object], Matcher, dict[int, EscalationRule]]:
    stamp = (agent.rules_version, agent.created_at)
    entry = _cache.get(agent.pk)  # a dict read is atomic under the GIL: no lock on the hot path
    if entry is not None and entry[0] == stamp:
        try:
            _cache.move_to_end(agent.pk)
        except KeyError:
            pass  # evicted meanwhile by another thread; the matcher in hand is still right
        return entry
    with _lock:
        entry = _cache.get(agent.pk)
        if entry is not None and entry[0] == stamp:
            return entry
        rules = enabled_rules(agent.pk)
        entry = (stamp, compile_rules([spec_of(rule) for rule in rules]), {rule.pk: rule for rule in rules})
        _cache[agent.pk] = entry
        _cache.move_to_end(agent.pk)
        while len(_cache) > MAX_MATCHERS:
            _cache.popitem(last=False)
        return entry


def enabled_rules(agent_id: int) -> list[EscalationRule]:
    return list(EscalationRule.objects.filter(agent_id=agent_id, enabled=True).order_by("order", "pk"))


def rule_specs(agent_id: int) -> list[RuleSpec]:
    """The enabled rules of an agent, in their order, as plain snapshots."""
    return [spec_of(rule) for rule in enabled_rules(agent_id)]


def spec_of(rule: EscalationRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        kind=rule.kind,
        parameters=MappingProxyType(copy.deepcopy(rule.parameters or {})),  # a snapshot, read-only
        reason_template=rule.reason_template,
        applies_to=rule.applies_to,
        exception_phrases=tuple(p for p in (rule.exception_phrases or []) if isinstance(p, str)),
        severity=rule.severity,
        urgency=rule.urgency,
        topic=rule.topic,
        area=rule.area,
        order=rule.order,
    )


def clear() -> None:
    """For tests only: production never needs it (the stamp does the work)."""
    with _lock:
        _cache.clear()
