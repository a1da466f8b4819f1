import sys

import pytest

from agents.engine import cache, intent
from agents.engine.matcher import MessageView, RuleSpec, compile_rules


@pytest.fixture(autouse=True)
def fresh_matcher_cache():
    # Test databases reuse agent ids; production never needs this (see agents.engine.cache).
    cache.clear()
    yield
    cache.clear()


def spec(kind: str, parameters: dict, *, rule_id: int = 1, **extra) -> RuleSpec:
    fields = {"name": f"rule {rule_id}", "reason_template": "why"}
    fields.update(extra)
    return RuleSpec(id=rule_id, kind=kind, parameters=parameters, **fields)


def fires(rules: list[RuleSpec] | RuleSpec, *texts: str, role: str = "user") -> list:
    """Hits on the last text; earlier texts are history with the same role."""
    rules = rules if isinstance(rules, list) else [rules]
    history = [MessageView(role=role, content=text, id=n) for n, text in enumerate(texts, start=1)]
    return compile_rules(rules).evaluate(history)


@pytest.fixture
def no_intent_model(monkeypatch):
    """As if the wordllama package were not installed; the real model is loaded again after."""
    intent.reset()
    monkeypatch.setitem(sys.modules, "wordllama", None)
    yield
    monkeypatch.undo()
    intent.reset()
