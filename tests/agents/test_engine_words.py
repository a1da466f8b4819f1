"""Phrases the way people write them: inflections, gaps, typos, negation (agents.engine.words)."""

import re

import pytest

from agents.engine.matcher import MessageView, compile_rules
from agents.engine.words import Corrected, TypoIndex, tokenize
from tests.agents.conftest import fires, spec

REFUND = spec("phrases", {"phrases": ["refund"]}, reason_template="said {phrase}")
DELETE_ACCOUNT = spec("phrases", {"phrases": ["delete account"]})
CHARGED_TWICE = spec("phrases", {"phrases": ["charged twice"]})

# --- inflections -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["refunds please", "I was refunded", "REFUNDING now", "two refunds"])
def test_a_phrase_matches_the_inflections_of_its_words(text):
    (hit,) = fires(REFUND, text)
    assert hit.reason == "said refund"  # the phrase as written


def test_inflections_work_both_ways_and_on_every_word_of_a_phrase():
    rule = spec("phrases", {"phrases": ["account deletions"]})
    assert len(fires(rule, "please process my account deletion")) == 1
    assert len(fires(rule, "accounts deleted?")) == 1


@pytest.mark.parametrize("text", ["refundxyz", "fundraiser", "the fund", "refute"])
def test_an_inflection_is_not_any_word_that_shares_letters(text):
    assert fires(REFUND, text) == []


# --- gaps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["delete account", "delete my account", "Delete my Premium account!", "deleting my old accounts"]
)
def test_up_to_two_words_may_stand_between_the_words_of_a_phrase(text):
    (hit,) = fires(DELETE_ACCOUNT, text)
    assert hit.evidence[0]["text"].lower().startswith("delet")


@pytest.mark.parametrize(
    "text",
    [
        "delete my new Premium Gold account",  # four words in between
        "account delete",  # another order
        "I will not delete. My account is fine",  # another sentence
    ],
)
def test_more_words_between_another_order_or_another_sentence_do_not_match(text):
    assert fires(DELETE_ACCOUNT, text) == []


def test_the_gap_is_a_parameter():
    strict = spec("phrases", {"phrases": ["delete account"], "word_gap": 0})
    loose = spec("phrases", {"phrases": ["delete account"], "word_gap": 4})
    assert fires(strict, "delete my account") == []
    assert len(fires(strict, "delete account")) == 1
    assert len(fires(loose, "delete my new Premium Gold account")) == 1


def test_the_evidence_spans_the_whole_phrase_with_its_gap():
    text = "Please delete my Premium account today"
    (hit,) = fires(DELETE_ACCOUNT, text)
    evidence = hit.evidence[0]
    assert text[evidence["start"] : evidence["end"]] == "delete my Premium account"


# --- typos -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want a refnd",  # a letter left out
        "I want a reffund",  # one too many
        "I want a rafund",  # one changed
        "I want a rfeund",  # two swapped
        "REFUDN NOW",
        "refnds please",  # a typo of an inflection
    ],
)
def test_a_word_of_five_letters_or_more_matches_at_one_typo(text):
    assert len(fires(REFUND, text)) == 1


@pytest.mark.parametrize("text", ["I want a rfnd", "I want a reffundd", "I want a rufend"])
def test_two_typos_do_not_match(text):
    assert fires(REFUND, text) == []


def test_short_words_need_their_exact_spelling():
    rule = spec("phrases", {"phrases": ["sue"]})
    assert len(fires(rule, "I will sue you")) == 1
    assert fires(rule, "I will see you") == []
    assert fires(spec("phrases", {"phrases": ["card"]}), "my cart is empty") == []


def test_typos_in_a_multi_word_phrase_and_the_evidence_in_the_original_text():
    text = "I was chrged twcie!"
    (hit,) = fires(CHARGED_TWICE, text)
    evidence = hit.evidence[0]
    assert text[evidence["start"] : evidence["end"]] == "chrged twcie"


def test_typos_can_be_switched_off():
    assert fires(spec("phrases", {"phrases": ["refund"], "typos": False}), "I want a refnd") == []


def test_a_typo_of_one_rules_word_does_not_reach_a_rule_that_switched_typos_off():
    exact = spec("phrases", {"phrases": ["refund"], "typos": False}, rule_id=1)
    lenient = spec("phrases", {"phrases": ["refund"]}, rule_id=2)
    assert [hit.rule_id for hit in fires([exact, lenient], "a refnd")] == [2]


def test_the_typo_index_remembers_words_and_corrects_only_near_ones():
    index = TypoIndex(["refund", "charged"])
    assert index.fixes("i want a refnd, not charged") == {"refnd": "refund"}
    assert index.fixes("i want a refnd, not charged") == {"refnd": "refund"}  # from the cache
    assert index.fixes("refunds are charged") == {}  # inflections are not typos
    assert index.correction("changed") is None or index.correction("changed") == "charged"


def test_correcting_a_text_maps_positions_back():
    corrected = Corrected("a refnd and a reffund.", {"refnd": "refund", "reffund": "refund"})
    assert corrected.text == "a refund and a refund."
    start = corrected.text.index("and")
    assert corrected.span(start, start + 3) == (8, 11)
    second = corrected.text.rindex("refund")
    assert corrected.span(second, second + 6) == (14, 21)


# --- negation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I was NOT charged twice",
        "I wasn't charged twice, all good",
        "I was never charged twice",
        "I have not been charged twice",
        "I didn't get charged twice",
        "No longer charged twice, thanks",
        "I don’t think I was charged twice",
    ],
)
def test_a_negated_phrase_does_not_fire(text):
    assert fires(CHARGED_TWICE, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "I was charged twice",
        "Not sure why, but I was charged twice",  # the negation is in another clause
        "No. I was charged twice.",
        "I was charged twice and not refunded",  # the negation comes after
        "Why can't I get a refund? I was charged twice",
        "Nothing works today. Also I was charged twice",
        "I can't believe you charged me twice",
        "I don't know why I was charged twice",
        "I don't understand, I was charged twice",
        "not only was I charged twice, the card is blocked",
    ],
)
def test_a_negation_elsewhere_does_not_stop_the_phrase(text):
    assert len(fires(CHARGED_TWICE, text)) == 1


def test_a_negation_far_before_the_phrase_is_out_of_scope():
    assert len(fires(CHARGED_TWICE, "I could not believe it when I saw I was charged twice")) == 1


def test_a_rule_may_fire_when_negated():
    rule = spec("phrases", {"phrases": ["charged twice"], "fire_when_negated": True})
    assert len(fires(rule, "I was NOT charged twice")) == 1


def test_a_question_with_a_negation_is_not_a_denial():
    human = spec("asks_for_human", {})
    assert len(fires(human, "Can't I just talk to a person?")) == 1
    assert fires(human, "I don't want to talk to a person") == []


def test_an_exception_counts_even_when_negated():
    rule = spec("phrases", {"phrases": ["refund"]}, exception_phrases=("refund policy",))
    assert fires(rule, "This is not about your refund policy, I just want my refund") == []


@pytest.mark.parametrize(
    "text",
    [
        "No, I didn't. But then: refund (now)!! it's e-mail; a_b x.y 1,250.00 ok",
        "Straße ﬁne naïve réfund, merci",
        "  leading  spaces\tand\nnewlines.",
        "can't won’t a...b (refund)",
    ],
)
def test_tokens_are_the_words_of_the_text_at_their_positions(text):
    expected = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\w+(?:['’]\w+)*", text)]
    assert [(t.text, t.start, t.end) for t in tokenize(text)] == expected


def test_tokens_know_their_sentence_and_clause():
    tokens = tokenize("no, i didn't. but then")
    assert [(t.text, t.sentence, t.clause) for t in tokens] == [
        ("no", 0, 0),
        ("i", 0, 1),
        ("didn't", 0, 1),
        ("but", 1, 3),
        ("then", 1, 3),
    ]


# --- the Set pass still decides --------------------------------------------------------------


def test_a_message_with_only_some_words_of_a_phrase_wakes_no_rule():
    matcher = compile_rules([DELETE_ACCOUNT])
    assert matcher.evaluate([MessageView("user", "my account is fine")]) == []
    assert matcher.evaluate([MessageView("user", "delete this photo")]) == []
