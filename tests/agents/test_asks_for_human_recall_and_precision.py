"""The built-in asks-for-human detector on hand-written phrasings (tests/agents/human_phrasings.py)."""

from agents.engine.matcher import MessageView, compile_rules
from tests.agents.conftest import spec
from tests.agents.human_phrasings import (
    DEVELOPMENT_MENTIONS,
    DEVELOPMENT_REQUESTS,
    HELD_OUT_MENTIONS,
    HELD_OUT_REQUESTS,
)

MATCHER = compile_rules([spec("asks_for_human", {})])


def fired(text: str) -> bool:
    return bool(MATCHER.evaluate([MessageView("user", text)]))


def test_every_development_phrasing_is_right():
    assert [text for text in DEVELOPMENT_REQUESTS if not fired(text)] == []
    assert [text for text in DEVELOPMENT_MENTIONS if fired(text)] == []


def test_held_out_recall_and_precision_are_at_least_095():
    true_positives = sum(fired(text) for text in HELD_OUT_REQUESTS)
    false_positives = [text for text in HELD_OUT_MENTIONS if fired(text)]
    recall = true_positives / len(HELD_OUT_REQUESTS)
    precision = true_positives / (true_positives + len(false_positives))
    assert recall >= 0.95, [text for text in HELD_OUT_REQUESTS if not fired(text)]
    assert precision >= 0.95, false_positives
