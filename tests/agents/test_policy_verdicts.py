"""Reading a judge's verdict: strict, so an answer that is not one skips the rule rather than guess."""

import json

import pytest

from agents.engine.policy import MalformedVerdict, Verdict, parse_chat_response, parse_verdict


def test_a_full_verdict_is_read_and_trimmed():
    content = json.dumps(
        {
            "escalate": True,
            "severity": "critical",
            "reason": "  The customer\nthreatens to sue.  ",
            "evidence": ["see you in court", "  ", "x" * 500, "a", "b", "c", "d"],
            "confidence": 0.9,  # extra fields are ignored
        }
    )
    verdict = parse_verdict(content)
    assert verdict.reason == "The customer threatens to sue."
    assert verdict.evidence[0] == "see you in court"
    assert len(verdict.evidence[1]) == 300  # an item is cut to 300 characters
    assert len(verdict.evidence) == 5  # at most five items


def test_evidence_may_be_one_text_or_left_out():
    one = parse_verdict('{"escalate": false, "severity": "info", "reason": "", "evidence": "a quote"}')
    none = parse_verdict('{"escalate": false, "severity": "info", "reason": "fine"}')
    assert (one.evidence, none.evidence) == (("a quote",), ())


@pytest.mark.parametrize(
    "content, problem",
    [
        ("yes", "the verdict is not JSON"),
        ('```json\n{"escalate": true}\n```', "the verdict is not JSON"),
        ("[true]", "the verdict is not a JSON object"),
        ('{"escalate": "true", "severity": "info", "reason": "r"}', '"escalate" true or false'),
        ('{"escalate": 1, "severity": "info", "reason": "r"}', '"escalate" true or false'),
        ('{"escalate": true, "severity": "high", "reason": "r"}', '"severity" is not one of info, warning'),
        ('{"escalate": true, "severity": "info"}', 'no "reason" text'),
        ('{"escalate": true, "severity": "info", "reason": "r", "evidence": [1]}', '"evidence" is not text'),
    ],
)
def test_anything_else_is_malformed_and_says_what(content, problem):
    with pytest.raises(MalformedVerdict, match=problem):
        parse_verdict(content)


def test_the_verdict_is_read_from_the_first_choice():
    body = {"choices": [{"message": {"content": '{"escalate": true, "severity": "warning", "reason": "r"}'}}]}
    assert parse_chat_response(body) == Verdict(True, "warning", "r", ())
    for broken in ({}, {"choices": []}, {"choices": [{"message": {"content": None}}]}, []):
        with pytest.raises(MalformedVerdict):
            parse_chat_response(broken)
