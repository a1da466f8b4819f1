"""Sentiment rules: the strongest of the last N messages, calibrated default, caps and insults."""

import pytest

from agents.engine.matcher import DEFAULT_SENTIMENT_THRESHOLD, negativity
from tests.agents.conftest import fires, spec
from tests.agents.sentiment_messages import CALM, FURIOUS

DEFAULTS = spec("sentiment", {})


def test_the_default_threshold_fires_on_nearly_every_furious_message():
    fired = [text for text in FURIOUS if fires(DEFAULTS, text)]
    assert len(fired) / len(FURIOUS) >= 0.9, sorted(set(FURIOUS) - set(fired))


def test_the_default_threshold_fires_on_no_calm_message():
    assert [text for text in CALM if fires(DEFAULTS, text)] == []


@pytest.mark.parametrize("word", ["unacceptable", "ridiculous", "useless", "pathetic", "idiots"])
def test_anger_words_and_insults_count(word):
    assert negativity(f"This is {word}") >= DEFAULT_SENTIMENT_THRESHOLD


def test_shouting_counts_even_with_neutral_words():
    assert negativity("WHERE IS MY ORDER!!!") >= DEFAULT_SENTIMENT_THRESHOLD
    assert negativity("where is my order") == 0


def test_words_that_name_what_happened_are_not_anger():
    assert negativity("My card was stolen, can you help me block it?") < DEFAULT_SENTIMENT_THRESHOLD


def test_one_furious_message_after_calm_ones_fires_with_last_n():
    rule = spec("sentiment", {"last_n": 3})
    (hit,) = fires(rule, "This is unacceptable, you are useless!!!", "ok", "where is it?")
    assert float(hit.evidence[0]["score"]) >= DEFAULT_SENTIMENT_THRESHOLD
    assert hit.evidence[0]["strongest_message_id"] == 1
