"""The trigger engine: escalation rules compiled into a pure matcher.

`compile_rules` and `Matcher` never touch the database (agents.engine.matcher);
`matcher_for` (agents.engine.cache) is the one place that loads rules.
"""

from agents.engine.matcher import Matcher, MessageView, RuleHit, RuleSpec, compile_rules

__all__ = ["Matcher", "MessageView", "RuleHit", "RuleSpec", "compile_rules"]
