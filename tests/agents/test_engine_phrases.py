"""Phrase rules: whole words after casefold and accent stripping, `*` for prefixes, exceptions.

Inflections, gaps, typos and negation: test_engine_words.py."""

import pytest

from agents.engine.matcher import MessageView, compile_rules
from tests.agents.conftest import fires, spec

REFUND = spec("phrases", {"phrases": ["refund"]})


@pytest.mark.parametrize(
    "text",
    [
        "refund",
        "I want a refund",
        "REFUND!",
        "Refund?",
        "réfund please",
        "a (refund)",
        "non-refund",
        "RÉFUND",
    ],
)
def test_a_phrase_fires_whatever_the_case_accents_or_punctuation(text):
    assert len(fires(REFUND, text)) == 1


@pytest.mark.parametrize("text", ["prerefund", "refund2", "ref und", "refundxyz"])
def test_a_phrase_does_not_fire_inside_a_longer_word(text):
    assert fires(REFUND, text) == []


def test_a_star_asks_for_any_word_starting_with_the_phrase():
    assert fires(spec("phrases", {"phrases": ["law"]}), "stop lawyering me") == []
    (hit,) = fires(spec("phrases", {"phrases": ["law*"]}), "stop lawyering me")
    assert hit.evidence[0]["text"] == "lawyering"


def test_an_accented_phrase_matches_the_unaccented_word():
    assert len(fires(spec("phrases", {"phrases": ["réfund"]}), "refund now")) == 1


def test_a_multi_word_phrase_matches_across_any_whitespace():
    rule = spec("phrases", {"phrases": ["money back"]})
    assert len(fires(rule, "I want my MONEY\n  back.")) == 1
    assert fires(rule, "moneyback") == []


def test_evidence_points_at_the_span_in_the_original_text():
    text = "Straße: je veux un Réfund, merci"
    (hit,) = fires(spec("phrases", {"phrases": ["refund"]}, rule_id=7, name="Refunds"), text)
    (evidence,) = hit.evidence
    assert text[evidence["start"] : evidence["end"]] == "Réfund"
    assert evidence == {
        "source": "rule",
        "rule_id": 7,
        "rule_name": "Refunds",
        "kind": "phrases",
        "text": "Réfund",
        "start": 19,
        "end": 25,
        "message_index": 0,
        "message_id": 1,
        "role": "user",
        "phrase": "refund",
    }


def test_thousands_of_phrases_compile_into_one_matcher_that_finds_the_right_one():
    phrases = [f"term{n}" for n in range(3000)]
    rule = spec("phrases", {"phrases": phrases}, reason_template="said {phrase}")
    (hit,) = fires(rule, "we only care about TERM2999 here")
    assert hit.reason == "said term2999"


def test_an_exception_phrase_in_the_same_message_stops_the_rule():
    rule = spec("phrases", {"phrases": ["refund"]}, exception_phrases=("refund policy",))
    assert fires(rule, "What is your Refund Policy?") == []
    assert len(fires(rule, "I want a refund")) == 1


def test_an_exception_only_stops_its_own_rule():
    guarded = spec("phrases", {"phrases": ["refund"]}, exception_phrases=("refund policy",), rule_id=1)
    plain = spec("phrases", {"phrases": ["policy"]}, rule_id=2)
    assert [hit.rule_id for hit in fires([guarded, plain], "your refund policy")] == [2]


@pytest.mark.parametrize(
    "applies_to, role, fired",
    [
        ("user", "user", True),
        ("user", "agent", False),
        ("agent", "agent", True),
        ("agent", "user", False),
        ("both", "user", True),
        ("both", "agent", True),
        ("both", "tool", False),
        ("both", "system", False),
    ],
)
def test_a_rule_only_looks_at_the_roles_it_applies_to(applies_to, role, fired):
    rule = spec("phrases", {"phrases": ["refund"]}, applies_to=applies_to)
    assert bool(fires(rule, "refund", role=role)) is fired


def test_only_the_newest_message_is_evaluated():
    matcher = compile_rules([REFUND])
    history = [MessageView("user", "refund", 1), MessageView("user", "thanks", 2)]
    assert matcher.evaluate(history) == []
    assert matcher.evaluate([]) == []


@pytest.mark.parametrize(
    "text", ["Straße", "ﬁne ℌello", "naïve Ǆ ǰ", "ΣΑΣ ς", "e\u0301te\u0301", "日本語 refund", "İstanbul"]
)
def test_normalising_character_by_character_agrees_with_the_whole_string(text):
    from agents.engine.text import OffsetMap, normalise

    offsets = OffsetMap(text)
    assert offsets.identity or len(offsets.origin) == len(normalise(text))


def test_a_phrase_in_another_script_respects_word_boundaries():
    rule = spec("phrases", {"phrases": ["возврат"]})
    assert len(fires(rule, "Хочу ВОЗВРАТ денег")) == 1
    assert fires(rule, "невозвратный") == []
