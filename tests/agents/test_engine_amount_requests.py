"""Amount rules fire on requests over the limit in the rule's currency, not on status questions."""

import pytest

from agents.engine import money
from tests.agents.conftest import fires, spec

REFUND_OVER_100 = spec(
    "amount",
    {"phrases": ["refund", "money back", "reimburse"], "limit": 100, "currency": "USD"},
    reason_template="Refund of {amount} (limit {limit})",
)


@pytest.mark.parametrize(
    "text",
    [
        "refund of $150 please",
        "I want a refund of $299",
        "Can I get a refund for the $120 charge?",
        "I'd like my money back, $450",
        "Please reimburse me $180",
        "Refund me $1,250.00 now",
        "Where is my refund of $300? I want it today!",  # asks about one and demands it: a request
        "I need a refund of 250 USD",
        "I want a refnd of $200",  # a typo
        "Can you refund the $130 you took twice?",
    ],
)
def test_a_request_over_the_limit_fires(text):
    assert len(fires(REFUND_OVER_100, text)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "I'm waiting for a refund of $299, has it been processed?",
        "When will my refund of $150 arrive?",
        "I requested a refund of $200 last week and it still hasn't arrived",
        "What's the status of my $400 refund?",
        "My refund of $250 is still pending",
        "I haven't received the $180 refund yet",
        "I want to know if my refund of $500 was sent",
        "Did you process my refund of $120?",
    ],
)
def test_a_status_question_about_a_refund_does_not_fire(text):
    assert fires(REFUND_OVER_100, text) == []


def test_a_rule_may_count_every_mention_not_only_requests():
    rule = spec("amount", {"phrases": ["refund"], "limit": 100, "currency": "USD", "requests_only": False})
    assert len(fires(rule, "I'm waiting for a refund of $299, has it been processed?")) == 1


@pytest.mark.parametrize("text", ["refund of ¥500 please", "refund €150 please", "refund 300 GBP please"])
def test_amounts_in_another_currency_are_not_compared_with_the_limit(text):
    assert fires(REFUND_OVER_100, text) == []


def test_a_yen_rule_compares_yen():
    rule = spec("amount", {"phrases": ["refund"], "limit": 10000, "currency": "JPY"})
    assert fires(rule, "refund ¥500 please") == []
    (hit,) = fires(rule, "refund ¥15,000 please")
    assert hit.evidence[0]["limit"] == "¥10,000"


def test_a_rule_saved_without_a_currency_still_fires_and_says_so():
    legacy = spec("amount", {"phrases": ["refund"], "limit": 100})
    (hit,) = fires(legacy, "refund $150 please")
    assert hit.evidence[0]["currency_unset"] is True


def test_a_negated_request_does_not_fire():
    assert fires(REFUND_OVER_100, "I don't want a refund of $150, just the replacement") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("refund $150", True),
        ("i would like to check on my refund, has it been processed", False),
        ("can i please get my money back", True),
        ("how long does a refund take", False),
    ],
)
def test_is_request(text, expected):
    assert money.is_request(text) is expected
