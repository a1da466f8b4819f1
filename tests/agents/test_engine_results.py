"""Several rules at once, and reasons rendered from templates."""

import pytest
from django.core.exceptions import ValidationError

from agents.engine.reasons import render, template_problem
from agents.models import EscalationRule
from tests import factories
from tests.agents.conftest import fires, spec


def test_the_most_severe_hit_comes_first_and_every_hit_keeps_its_evidence():
    rules = [
        spec("phrases", {"phrases": ["refund"]}, rule_id=1, severity="info"),
        spec("amount", {"phrases": ["refund"], "limit": 100}, rule_id=2, severity="critical"),
        spec("phrases", {"phrases": ["lawyer"]}, rule_id=3, severity="warning"),
    ]
    hits = fires(rules, "Refund $500 or my lawyer calls")
    assert [(hit.rule_id, hit.severity) for hit in hits] == [(2, "critical"), (3, "warning"), (1, "info")]
    assert all(len(hit.evidence) == 1 for hit in hits)


def test_equal_severities_keep_the_rules_order():
    rules = [spec("phrases", {"phrases": [word]}, rule_id=n) for n, word in enumerate(["b", "a", "c"], 1)]
    assert [hit.rule_id for hit in fires(rules, "a b c")] == [1, 2, 3]


def test_a_hit_carries_the_rules_routing():
    rule = spec(
        "phrases", {"phrases": ["refund"]}, severity="critical", urgency="high", topic="Refunds", area="EU"
    )
    (hit,) = fires(rule, "refund")
    assert (hit.severity, hit.urgency, hit.topic, hit.area) == ("critical", "high", "Refunds", "EU")


def test_rendering_fills_placeholders_and_keeps_literal_braces():
    assert render("{rule}: {{ {phrase} }}", {"rule": "R", "phrase": "refund"}) == "R: { refund }"


def test_rendering_a_broken_template_returns_it_as_written_instead_of_raising():
    assert render("refund of {amount", {"amount": "$5"}) == "refund of {amount"
    assert render("{nope}", {}) == ""


@pytest.mark.parametrize(
    "kind, template, problem",
    [
        ("phrases", "Asked for {amount}", "Unknown placeholder {amount}. Placeholders for this kind: {rule}"),
        ("amount", "{amount.real}", "Unknown placeholder {amount.real}"),
        ("amount", "{amount:>10}", "Unknown placeholder {amount:>10}"),
        ("loop", "{0}", "Unknown placeholder {0}"),
        ("regex", "oops {", "Single '{' encountered"),
    ],
)
def test_a_template_with_an_unknown_placeholder_is_refused_listing_the_allowed_ones(kind, template, problem):
    assert problem in template_problem(kind, template)


@pytest.mark.parametrize(
    "kind, template",
    [
        ("amount", "Customer asked for a refund of {amount} (limit {limit}, {currency})"),
        ("sentiment", "Angry: {score} over {count} messages"),
        ("loop", "{rule}: {count} times «{text}»"),
        ("phrases", "No placeholders at all {{literally}}"),
    ],
)
def test_a_template_with_the_kinds_placeholders_is_accepted(kind, template):
    assert template_problem(kind, template) is None


def test_saving_a_rule_with_an_unknown_placeholder_is_a_field_error(db):
    agent = factories.make_agent(factories.make_team("Support"), "Support Bot")
    rule = EscalationRule(
        agent=agent, name="r", kind="phrases", parameters={"phrases": ["refund"]}, reason_template="{amount}"
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    (message,) = error.value.message_dict["reason_template"]
    assert message == "Unknown placeholder {amount}. Placeholders for this kind: {rule}, {text}, {phrase}."


@pytest.mark.parametrize(
    "parameters, exceptions, field, message",
    [
        ({"phrases": ["re*fund"]}, [], "parameters", "may only have one `*`, at its end"),
        ({"phrases": ["!!!"]}, [], "parameters", "needs at least one letter or digit"),
        ({"phrases": ["refund"]}, ["policy*x"], "exception_phrases", "may only have one `*`"),
    ],
)
def test_a_phrase_the_engine_cannot_match_is_refused(db, parameters, exceptions, field, message):
    agent = factories.make_agent(factories.make_team("Support"), "Support Bot")
    rule = EscalationRule(
        agent=agent,
        name="r",
        kind="phrases",
        parameters=parameters,
        exception_phrases=exceptions,
        reason_template="why",
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert message in error.value.message_dict[field][0]


def test_a_regex_re2_cannot_run_is_refused_when_saved(db):
    agent = factories.make_agent(factories.make_team("Support"), "Support Bot")
    rule = EscalationRule(
        agent=agent, name="r", kind="regex", parameters={"pattern": r"(?<=a)b"}, reason_template="why"
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "invalid perl operator: (?<=" in error.value.message_dict["parameters"][0]
    assert "lookarounds and backreferences are not supported" in error.value.message_dict["parameters"][0]


@pytest.mark.parametrize(
    "kind, parameters, message",
    [
        ("regex", {"pattern": "refund|"}, "matches empty text, so it would fire on every message"),
        ("regex", {"pattern": "x*"}, "matches empty text"),
        ("amount", {"phrases": ["refund"], "limit": 100, "currency": "DOLLARS"}, '"currency" is required'),
        ("amount", {"phrases": ["refund"], "limit": 100}, '"currency" is required: the currency of "limit"'),
    ],
)
def test_parameters_the_engine_would_misread_are_refused(db, kind, parameters, message):
    agent = factories.make_agent(factories.make_team("Support"), "Support Bot")
    rule = EscalationRule(agent=agent, name="r", kind=kind, parameters=parameters, reason_template="why")
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert message in error.value.message_dict["parameters"][0]


def test_an_amount_rule_may_name_its_currency(db):
    agent = factories.make_agent(factories.make_team("Support"), "Support Bot")
    parameters = {"phrases": ["refund"], "limit": 100, "currency": "eur"}
    EscalationRule(
        agent=agent, name="r", kind="amount", parameters=parameters, reason_template="x"
    ).full_clean()
