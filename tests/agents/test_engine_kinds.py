"""Regex, amount, asks-for-human, sentiment and loop rules: hits and near misses."""

import pytest

from agents.engine.matcher import MessageView, compile_rules
from tests.agents.conftest import fires, spec
from tests.agents.human_phrasings import DEVELOPMENT_MENTIONS, DEVELOPMENT_REQUESTS, FOUND_LATER_MENTIONS

# --- regex -----------------------------------------------------------------------------

INVOICE = spec("regex", {"pattern": r"\bINV-\d{6}\b"}, reason_template="Invoice {text}")


def test_a_regex_fires_with_the_matched_span_as_evidence():
    (hit,) = fires(INVOICE, "about invoice INV-123456, thanks")
    assert hit.reason == "Invoice INV-123456"
    expected = {"text": "INV-123456", "start": 14, "end": 24, "kind": "regex"}
    assert hit.evidence[0].items() >= expected.items()


@pytest.mark.parametrize("text", ["INV-12345", "INV-1234567", "inv-123456", "XINV-123456"])
def test_a_regex_near_miss_does_not_fire(text):
    assert fires(INVOICE, text) == []


def test_a_regex_can_opt_into_ignoring_case():
    assert len(fires(spec("regex", {"pattern": r"(?i)chargeback"}), "CHARGEBACK filed")) == 1


def test_a_rule_with_a_pattern_re2_refuses_is_skipped_and_the_others_still_work():
    broken = spec("regex", {"pattern": r"(?<=a)b"}, rule_id=1)
    fine = spec("phrases", {"phrases": ["refund"]}, rule_id=2)
    assert [hit.rule_id for hit in fires([broken, fine], "ab refund")] == [2]


# --- amount ----------------------------------------------------------------------------

REFUND_OVER_100 = spec(
    "amount",
    {"phrases": ["refund", "money back"], "limit": 100},
    reason_template="Customer asked for a refund of {amount} (limit {limit})",
)


@pytest.mark.parametrize(
    "text, amount",
    [
        ("I want a refund of $150", "$150"),
        ("Refund $1,250.00 now", "$1,250"),
        ("refund: 150 USD", "$150"),
        ("refund €200", "€200"),
        ("refund EUR 101", "€101"),
        ("give my money back, 1.250,00 EUR", "€1,250"),
        ("refund 120 dollars", "$120"),
    ],
)
def test_an_amount_over_the_limit_with_a_phrase_fires(text, amount):
    (hit,) = fires(REFUND_OVER_100, text)
    assert hit.evidence[0]["amount"] == amount


def test_the_reason_shows_the_amount_and_the_limit():
    (hit,) = fires(REFUND_OVER_100, "I want a refund of $150")
    assert hit.reason == "Customer asked for a refund of $150 (limit $100)"
    evidence = hit.evidence[0]
    assert evidence["currency"] == "USD"
    assert evidence["limit"] == "$100"
    assert evidence["phrase"] == "refund"
    assert evidence["text"] == "refund of $150"


@pytest.mark.parametrize(
    "text",
    [
        "refund of $80",  # below the limit
        "refund of $100",  # at the limit is not over it
        "EUR 99 refund",
        "I want a refund",  # no amount
        "refund for order 150",  # a number without a currency is not money
        "I paid $150 yesterday",  # amount without the phrase
        "prerefund $150",  # the phrase must be a whole word
        "I'm waiting for a refund of $299, has it been processed?",  # a status check, not a request
    ],
)
def test_an_amount_rule_near_miss_does_not_fire(text):
    assert fires(REFUND_OVER_100, text) == []


def test_the_largest_amount_over_the_limit_is_the_evidence():
    (hit,) = fires(REFUND_OVER_100, "refund $120 and then $900 and $5")
    assert hit.evidence[0]["amount"] == "$900"


def test_a_currency_parameter_ignores_other_currencies():
    rule = spec("amount", {"phrases": ["refund"], "limit": 100, "currency": "EUR"})
    assert fires(rule, "refund $500") == []
    assert len(fires(rule, "refund 500 €")) == 1


# --- asks for a human --------------------------------------------------------------------

HUMAN = spec("asks_for_human", {"extra_phrases": ["someone from staff"]}, reason_template="Asked: {phrase}")


@pytest.mark.parametrize("text", [*DEVELOPMENT_REQUESTS, "I'd like to talk to someone from staff"])
def test_asking_for_a_human_fires_in_many_phrasings(text):
    assert len(fires(HUMAN, text)) == 1


@pytest.mark.parametrize("text", [*DEVELOPMENT_MENTIONS, *FOUND_LATER_MENTIONS])
def test_mentioning_a_person_is_not_asking_for_one(text):
    assert fires(HUMAN, text) == []


def test_the_reason_quotes_what_was_said():
    (hit,) = fires(HUMAN, "Can I TALK to a person?")
    assert hit.reason == "Asked: TALK to a person"


# --- sentiment -------------------------------------------------------------------------

ANGRY = spec("sentiment", {"threshold": 0.6, "last_n": 1}, reason_template="Angry ({score} ≥ {threshold})")


def test_an_angry_message_fires_with_its_score():
    (hit,) = fires(ANGRY, "This is ridiculous, I am so angry and fed up with your useless service!!!")
    assert hit.reason.startswith("Angry (0.")
    assert float(hit.evidence[0]["score"]) >= 0.6


@pytest.mark.parametrize("text", ["Where is my order?", "Thanks, that was helpful!", "I am not angry at all"])
def test_a_calm_message_does_not_fire(text):
    assert fires(ANGRY, text) == []


def test_over_the_last_n_messages_the_strongest_one_counts():
    rule = spec("sentiment", {"threshold": 0.6, "last_n": 3})
    furious = "This is terrible, I hate this useless garbage service!!!"
    # A calm message after a furious one does not hide it (a mean over the three would).
    (hit,) = fires(rule, "where is my parcel", furious, "ok")
    assert hit.evidence[0]["count"] == "3"
    assert hit.evidence[0]["message_ids"] == [1, 2, 3]
    assert hit.evidence[0]["strongest_message_id"] == 2
    # Older than the last 3 is forgotten.
    assert fires(rule, furious, "where is my parcel", "ok", "thanks") == []


# --- loop ------------------------------------------------------------------------------

LOOP = spec("loop", {"repeats": 3, "similarity": 0.9}, applies_to="both", reason_template="Repeated {count}×")


def test_the_user_repeating_themselves_fires():
    (hit,) = fires(LOOP, "Where is my order?", "where is my order", "WHERE IS MY ORDER!!")
    assert hit.reason == "Repeated 3×"
    assert hit.evidence[0]["message_ids"] == [1, 2, 3]


def test_the_agent_answering_the_same_thing_fires():
    answer = "Please check the tracking link in your confirmation email."
    assert len(fires(LOOP, answer, answer + " Thanks!", answer, role="agent")) == 1


def test_repeats_interleaved_with_the_other_party_still_count():
    rule = spec("loop", {"repeats": 2, "similarity": 0.9})
    history = ["where is my order", "It is on its way.", "where is my order?"]
    views = [MessageView(role, text) for role, text in zip(["user", "agent", "user"], history, strict=True)]
    assert len(compile_rules([rule]).evaluate(views)) == 1


@pytest.mark.parametrize(
    "texts",
    [
        ("Where is my order?", "where is my order"),  # only two
        ("Where is my order?", "Can I change the address?", "Where is my order?"),  # progress in between
        ("where is my order", "where is my invoice", "where is my refund"),  # similar, not the same
    ],
)
def test_fewer_repeats_or_progress_does_not_fire(texts):
    assert fires(LOOP, *texts) == []
