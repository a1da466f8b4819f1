"""A rule's parameters are checked when it is saved, so a broken rule never goes live silently."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import EscalationRule, RuleKind
from agents.rule_parameters import EXAMPLES
from tests import factories


@pytest.fixture
def agent(db):
    return factories.make_agent(factories.make_team("Support"), "Support Bot")


def rule(agent, kind, parameters, **extra):
    return EscalationRule(
        agent=agent, name="r", kind=kind, parameters=parameters, reason_template="why", **extra
    )


@pytest.mark.parametrize("kind", [choice.value for choice in RuleKind])
def test_the_documented_example_of_every_kind_is_valid(agent, kind, settings):
    # An enabled policy rule needs a judge configured (tests/agents/test_policy_rules.py).
    settings.POLICY_JUDGE_BASE_URL, settings.POLICY_JUDGE_MODEL = "http://127.0.0.1:9/v1", "judge"
    rule(agent, kind, EXAMPLES[kind]).full_clean()


@pytest.mark.parametrize(
    "kind, parameters, message",
    [
        ("phrases", {"phrases": []}, "needs at least one phrase"),
        ("phrases", {"phrases": ["refund", ""]}, "list of non-empty strings"),
        ("phrases", {}, "needs at least one phrase"),
        ("regex", {"pattern": "(unclosed"}, "not a valid regular expression: missing )"),
        ("regex", {}, "non-empty regular expression"),
        ("amount", {"phrases": ["refund"]}, '"limit" must be a number'),
        ("amount", {"phrases": ["refund"], "limit": -5}, "between 0"),
        ("amount", {"phrases": ["refund"], "limit": True}, '"limit" must be a number'),
        ("sentiment", {"threshold": 2}, "between 0 and 1"),
        ("loop", {"repeats": 1}, "between 2 and 20"),
        ("asks_for_human", {"extra_phrases": "manager"}, "list of non-empty strings"),
        ("sentiment", {"treshold": 0.3}, 'Unknown parameter "treshold" for a sentiment rule. Did you mean'),
        ("loop", {"repeat": 3}, 'Did you mean "repeats"?'),
        (
            "regex",
            {"pattern": "x", "flags": "i"},
            'Unknown parameter "flags" for a regex rule. Known: pattern.',
        ),
        ("phrases", {"phrases": ["refund"], "word_gap": 9}, '"word_gap" must be a whole number from 0 to 5'),
        ("phrases", {"phrases": ["refund"], "typos": "yes"}, '"typos" must be true or false'),
        (
            "amount",
            {"phrases": ["refund"], "limit": 5, "currency": "USD", "requests_only": 1},
            "true or false",
        ),
    ],
)
def test_bad_parameters_are_refused_with_a_field_message(agent, kind, parameters, message):
    with pytest.raises(ValidationError) as error:
        rule(agent, kind, parameters).full_clean()

    (text,) = error.value.message_dict["parameters"]
    assert message in text
    assert "Example for" in text  # the admin shows how it should look


@pytest.mark.parametrize(
    "kind, parameters",
    [
        ("phrases", {"phrases": ["refund"], "word_gap": 0, "typos": False, "fire_when_negated": True}),
        ("phrases", {"phrases": ["refund"], "exception_examples": ["what is your refund policy?"]}),
        ("amount", {"phrases": ["refund"], "limit": 100, "currency": "eur", "requests_only": False}),
        ("asks_for_human", {"extra_phrases": ["a grown-up"], "word_gap": 1, "typos": True}),
    ],
)
def test_every_documented_parameter_is_accepted(agent, kind, parameters):
    rule(agent, kind, parameters).full_clean()


def test_parameters_must_be_an_object(agent):
    with pytest.raises(ValidationError) as error:
        rule(agent, "phrases", ["refund"]).full_clean()

    assert error.value.message_dict["parameters"] == ["Parameters must be a JSON object."]


def test_exception_phrases_must_be_strings(agent):
    with pytest.raises(ValidationError) as error:
        rule(agent, "phrases", {"phrases": ["refund"]}, exception_phrases=[""]).full_clean()

    assert "exception_phrases" in error.value.message_dict
