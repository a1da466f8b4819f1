"""Policy rules: a language model judges the conversation; its trouble never fails a post.

Against a real local HTTP server (tests/agents/fake_judge.py), never a real provider.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from agents import policy_judge
from agents.engine.matcher import MessageView, RuleSpec
from agents.models import Message, RuleTestCase
from agents.rule_bench import run_rule_tests, what_if
from agents.services import evaluate_conversation, post_message, rule_update
from escalation_project.redis_client import shared_redis
from escalations.models import Escalation
from tests import factories
from tests.agents import fake_judge
from tests.agents.fake_judge import KEY, chat_body, verdict_body

judge = fake_judge.judge  # the fixture, used here by name

POLICY_TEXT = "Escalate when the customer threatens legal action or asks for a refund over $100."


@pytest.fixture(autouse=True)
def own_metric_keys(settings):
    settings.METRICS_KEY_PREFIX = f"test-{uuid.uuid4().hex}:metrics"


def judged(settings) -> dict[str, int]:
    """The policy_judgements counter: {"outcome|cached": count}."""
    stored = shared_redis().hgetall(f"{settings.METRICS_KEY_PREFIX}:policy_judgements")
    return {field.decode(): int(value) for field, value in stored.items()}


@pytest.fixture
def policy_rule(agent):
    return factories.make_rule(
        agent,
        name="Legal or big refunds",
        kind="policy",
        parameters={"policy": POLICY_TEXT, "last_n": 3},
        reason_template="{verdict}",
        severity="info",
        topic="",
    )


def say(conversation, content, role="user"):
    return post_message(conversation=conversation, role=role, content=content)


# --- Verdicts ------------------------------------------------------------------------------


def test_a_yes_verdict_opens_an_escalation_with_its_severity_and_reason(judge, conversation, policy_rule):
    judge.answer = (
        200,
        verdict_body(
            escalate=True,
            severity="critical",
            reason="The customer threatens to sue.",
            evidence=["I'll see you in court"],
        ),
    )
    posted = say(conversation, "Fix this or I'll see you in court")

    escalation = posted.escalation
    assert escalation is not None and escalation.rule == policy_rule
    assert (escalation.severity, escalation.reason) == ("critical", "The customer threatens to sue.")
    (item,) = escalation.evidence
    assert (item["rule_id"], item["kind"], item["message_id"]) == (
        policy_rule.pk,
        "policy",
        posted.message.pk,
    )
    assert item["verdict"] == {
        "escalate": True,
        "severity": "critical",
        "reason": "The customer threatens to sue.",
        "evidence": ["I'll see you in court"],
    }
    assert (item["model"], item["cached"], item["messages_sent"]) == ("test-model", False, 2)
    assert [hit.rule_id for hit in posted.hits] == [policy_rule.pk]


def test_a_no_verdict_opens_nothing(judge, conversation, policy_rule, settings):
    posted = say(conversation, "Thanks, that solved it")

    assert (posted.escalation, posted.hits, posted.skipped) == (None, [], [])
    assert Message.objects.filter(pk=posted.message.pk).exists()
    assert judged(settings) == {"no|false": 1}


def test_the_judge_gets_the_description_the_policy_and_the_last_n_messages_in_json_mode(
    judge, agent, conversation, policy_rule
):
    for text in ("second", "third"):
        Message.objects.create(conversation=conversation, role="agent", content=text)
    Message.objects.create(conversation=conversation, role="tool", content="{lookup result}")
    say(conversation, "fourth")

    (request,) = judge.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert (body["model"], body["response_format"]) == ("test-model", {"type": "json_object"})
    system, user = body["messages"]
    assert agent.description in system["content"] and POLICY_TEXT in system["content"]
    # last_n 3: the newest three user and agent messages (the tool's left out), oldest first.
    assert user["content"].splitlines()[1:] == ["agent: second", "agent: third", "user: fourth"]


def test_no_key_no_authorization_header(judge, conversation, policy_rule, settings):
    settings.POLICY_JUDGE_API_KEY = ""  # a local Ollama wants none
    say(conversation, "hello")
    assert "Authorization" not in judge.requests[0]["headers"]


def test_a_rule_for_user_messages_does_not_judge_agent_messages(judge, conversation, policy_rule):
    say(conversation, "Here is your invoice.", role="agent")
    assert judge.requests == []


# --- Failures never fail the post ---------------------------------------------------------------


def refuse_connections(judge, settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.POLICY_JUDGE_BASE_URL = f"http://127.0.0.1:{port}/v1"


FAILURES = {
    "slow answer": ("skipped_timeout", lambda judge, settings: setattr(judge, "hold", True)),
    "not JSON": ("skipped_malformed", lambda judge, settings: setattr(judge, "answer", (200, b"<html>oops"))),
    "content not JSON": (
        "skipped_malformed",
        lambda judge, settings: setattr(judge, "answer", (200, chat_body("Sure! I think yes."))),
    ),
    "verdict without its fields": (
        "skipped_malformed",
        lambda judge, settings: setattr(judge, "answer", (200, chat_body('{"escalate": "yes"}'))),
    ),
    "429": ("skipped_rate_limited", lambda judge, settings: setattr(judge, "answer", (429, b"{}"))),
    "500": ("skipped_error", lambda judge, settings: setattr(judge, "answer", (500, b"{}"))),
    "connection refused": ("skipped_error", refuse_connections),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_judge_skips_the_rule_and_the_message_is_kept(
    judge, conversation, policy_rule, settings, caplog, failure
):
    outcome, arrange = FAILURES[failure]
    arrange(judge, settings)
    posted = say(conversation, "I'll see you in court")

    assert Message.objects.filter(pk=posted.message.pk).exists()
    assert posted.escalation is None
    (skip,) = posted.skipped
    assert (skip["rule_id"], skip["skipped"], skip["message_id"]) == (
        policy_rule.pk,
        outcome,
        posted.message.pk,
    )
    assert skip["text"].startswith("Not checked: ")
    assert judged(settings) == {f"{outcome}|false": 1}
    assert f"Policy rule {policy_rule.pk} (Legal or big refunds) skipped: {outcome}" in caplog.text
    # The answer to a held request: the post was answered while the judge still held it.
    assert not judge.released


def test_a_skip_is_in_the_evidence_of_the_rule_that_fires(judge, agent, conversation, policy_rule):
    judge.answer = (500, b"{}")
    phrases = factories.make_rule(agent, name="Court", order=0, parameters={"phrases": ["court"]})
    posted = say(conversation, "I'll see you in court")

    assert posted.escalation.rule == phrases
    fired, skip = posted.escalation.evidence
    assert fired["rule_id"] == phrases.pk
    assert (skip["rule_id"], skip["skipped"]) == (policy_rule.pk, "skipped_error")
    assert skip["text"] == "Not checked: the judge failed (HTTP 500)"


def test_the_console_shows_a_skip_as_a_note_and_highlights_only_what_fired(
    judge, agent, conversation, policy_rule, client, ana
):
    judge.answer = (500, b"{}")
    factories.make_rule(agent, name="Court", order=0, parameters={"phrases": ["court"]})
    escalation = say(conversation, "I'll see you in court").escalation
    client.force_login(ana)
    page = client.get(reverse("console:detail", args=[escalation.pk])).content.decode()
    assert "<em>Not checked: the judge failed (HTTP 500)</em>" in page
    assert page.count('<mark class="evidence">') == 1
    assert '<mark class="evidence">court</mark>' in page


def test_an_agent_message_to_a_paused_conversation_asks_no_judge(judge, agent, conversation, settings):
    factories.make_rule(
        agent, kind="policy", applies_to="agent", parameters={"policy": "Escalate drafts that promise money."}
    )
    factories.open_escalation(conversation, blocking=True)
    with pytest.raises(Exception, match="paused"):
        say(conversation, "I promise you $500", role="agent")
    assert judge.requests == []


# --- Budget, concurrency and cache ------------------------------------------------------------


def test_at_most_max_concurrency_calls_are_in_flight_the_next_is_skipped_as_busy(judge, settings):
    settings.POLICY_JUDGE_MAX_CONCURRENCY = 1
    settings.POLICY_JUDGE_TIMEOUT_SECONDS = 10  # the first call holds its slot until released
    judge.hold = True
    judge.answer = (200, verdict_body(escalate=True, severity="warning", reason="yes"))
    first_rule = _spec(1)
    history = [MessageView(role="user", content="hello")]
    first: list = []
    holder = threading.Thread(
        target=lambda: first.extend(
            policy_judge.judge(description="d", rules_version=1, rules=[first_rule], history=history)
        )
    )
    holder.start()
    assert judge.arrived.wait(10)
    settings.POLICY_JUDGE_TIMEOUT_SECONDS = 0.2
    (second,) = policy_judge.judge(
        description="d", rules_version=1, rules=[_spec(2)], history=[MessageView(role="user", content="hi")]
    )
    judge.release()
    holder.join(10)

    assert second.outcome == "skipped_busy"
    assert first[0].outcome == "escalate"
    assert len(judge.requests) == 1


def _spec(rule_id: int) -> RuleSpec:
    return RuleSpec(
        id=rule_id,
        name=f"policy {rule_id}",
        kind="policy",
        parameters={"policy": POLICY_TEXT},
        reason_template="{verdict}",
    )


def test_two_policy_rules_share_one_budget_and_are_asked_at_once(judge, settings):
    judge.hold = True
    settings.POLICY_JUDGE_TIMEOUT_SECONDS = 0.3
    history = [MessageView(role="user", content="hello")]
    results = policy_judge.judge(
        description="d", rules_version=1, rules=[_spec(1), _spec(2)], history=history
    )
    assert [j.outcome for j in results] == ["skipped_timeout", "skipped_timeout"]
    # Both held by the judge at once (none is answered before release): asked side by side.
    assert judge.wait_for_requests(2) and not judge.released


def test_a_dry_run_then_the_post_of_the_same_messages_asks_once(
    judge, agent, conversation, policy_rule, settings
):
    judge.answer = (200, verdict_body(escalate=True, severity="warning", reason="Refund over $100."))
    messages = [
        {"role": "user", "content": "I want my money back"},  # the conversation's first message
        {"role": "user", "content": "All $250 of it"},
    ]
    first = evaluate_conversation(agent=agent, messages=messages)
    again = evaluate_conversation(agent=agent, messages=messages)
    posted = say(conversation, "All $250 of it")

    assert len(judge.requests) == 1
    assert [h.reason for h in (first.hits[0], again.hits[0], posted.hits[0])] == ["Refund over $100."] * 3
    assert posted.escalation.evidence[0]["cached"] is True
    assert judged(settings) == {"escalate|false": 1, "escalate|true": 2}


def test_a_skip_is_not_cached_the_next_evaluation_asks_again(judge, agent, policy_rule):
    judge.answer = (500, b"{}")
    messages = [{"role": "user", "content": "I'll sue"}]
    assert evaluate_conversation(agent=agent, messages=messages).skipped[0]["skipped"] == "skipped_error"
    judge.answer = (200, verdict_body(escalate=True, severity="critical", reason="Legal threat."))
    assert evaluate_conversation(agent=agent, messages=messages).hits[0].severity == "critical"
    assert len(judge.requests) == 2


def test_a_rule_edit_asks_again(judge, agent, policy_rule):
    messages = [{"role": "user", "content": "I'll sue"}]
    evaluate_conversation(agent=agent, messages=messages)
    rule_update(rule_id=policy_rule.pk, user=None, data={"parameters": {"policy": "Escalate legal threats."}})
    evaluate_conversation(agent=agent, messages=messages)
    assert len(judge.requests) == 2
    assert "Escalate legal threats." in judge.requests[1]["body"]["messages"][0]["content"]


@pytest.mark.django_db(transaction=True)
def test_the_judge_is_asked_outside_the_posts_transaction(judge, monkeypatch):
    agent = factories.make_agent(factories.make_team("Billing"), "Billing Bot")
    conversation = factories.make_conversation(agent)
    factories.make_rule(agent, kind="policy", parameters={"policy": POLICY_TEXT})
    in_transaction = []
    real = policy_judge.judge

    def watched(**kwargs):
        in_transaction.append(connection.in_atomic_block)
        return real(**kwargs)

    monkeypatch.setattr(policy_judge, "judge", watched)
    say(conversation, "hello")
    assert in_transaction == [False]


# --- The key --------------------------------------------------------------------------------


def test_the_key_is_never_shown_nor_logged(judge, agent, conversation, policy_rule, settings, caplog, client):
    # A provider's 401 may echo the key: neither the evidence nor the log may carry it.
    judge.answer = (401, json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode())
    caplog.set_level("DEBUG")
    factories.make_rule(agent, name="Court", order=0, parameters={"phrases": ["court"]})
    posted = say(conversation, "see you in court")
    evaluation = evaluate_conversation(agent=agent, messages=[{"role": "user", "content": "court"}])
    root = factories.make_user("root", superuser=True)
    client.force_login(root)
    page = client.get(reverse("admin:agents_escalationrule_change", args=[policy_rule.pk]))
    bench = client.get(reverse("admin:agents_agent_rule_bench", args=[agent.pk]))

    assert posted.skipped[0]["text"] == "Not checked: the judge refused the request (HTTP 401)"
    assert page.status_code == bench.status_code == 200
    for shown in (
        json.dumps(posted.escalation.evidence),
        json.dumps(evaluation.skipped),
        page.content.decode(),
        bench.content.decode(),
        caplog.text,
    ):
        assert KEY not in shown
    assert judge.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


# --- Without a judge ------------------------------------------------------------------------


def test_without_a_judge_an_enabled_rule_is_skipped_and_says_so(agent, conversation, policy_rule, settings):
    settings.POLICY_JUDGE_BASE_URL = ""
    posted = say(conversation, "I'll see you in court")
    assert posted.escalation is None
    assert posted.skipped[0]["skipped"] == "skipped_unconfigured"
    assert "POLICY_JUDGE_BASE_URL" in posted.skipped[0]["text"]
    assert judged(settings) == {"skipped_unconfigured|false": 1}


# --- Rule tests, check_rules and what-if -----------------------------------------------------


def _case(agent, policy_rule, *, should_escalate=True, name="Threat"):
    return RuleTestCase.objects.create(
        agent=agent,
        name=name,
        messages=[
            {"role": "user", "content": "My order is late"},
            {"role": "agent", "content": "Sorry, checking."},
            {"role": "user", "content": "I'll see you in court"},
        ],
        should_escalate=should_escalate,
        expected_rule=policy_rule if should_escalate else None,
    )


def test_rule_tests_ask_the_judge_and_a_second_run_asks_nothing_new(judge, agent, policy_rule):
    judge.answer = (200, verdict_body(escalate=True, severity="critical", reason="Legal threat."))
    _case(agent, policy_rule)
    (result,) = run_rule_tests(agent)
    assert (result.passed, result.fired_at, result.fired_rules) == (True, 0, ["Legal or big refunds"])
    asked = len(judge.requests)
    run_rule_tests(agent)
    assert len(judge.requests) == asked


def test_a_rule_test_without_a_judge_is_not_conclusive_and_check_rules_says_why(agent, policy_rule, settings):
    settings.POLICY_JUDGE_BASE_URL = ""
    _case(agent, policy_rule, should_escalate=False, name="Calm")
    (result,) = run_rule_tests(agent)
    assert not result.passed
    assert result.problem.startswith("Not conclusive: the policy rule Legal or big refunds was not checked")
    assert "no policy judge is configured" in result.problem
    with pytest.raises(Exception, match="0 of 1 rule tests passed"):
        call_command("check_rules", agent.slug)


def test_a_run_stops_asking_a_judge_that_timed_out(judge, agent, policy_rule, settings):
    judge.hold = True
    settings.POLICY_JUDGE_TIMEOUT_SECONDS = 0.2
    _case(agent, policy_rule, should_escalate=False, name="A")
    _case(agent, policy_rule, should_escalate=False, name="B")
    results = run_rule_tests(agent)
    assert judge.wait_for_requests(1)
    assert len(judge.requests) == 1  # the first message of the first case; the rest not asked
    assert all(not r.passed for r in results)
    assert "not asked after the judge failed earlier in this run" in results[1].problem


def test_what_if_does_not_replay_policy_rules_and_says_why(judge, policy_rule):
    result = what_if(policy_rule, days=30)
    assert result.conversations_checked == 0
    assert "does not replay policy rules" in result.note
    assert judge.requests == []


def test_escalation_rows_count(judge, conversation, policy_rule):
    judge.answer = (200, verdict_body(escalate=True, severity="warning", reason="yes"))
    say(conversation, "one")
    say(conversation, "two")  # adds to the open escalation, as any rule does
    assert Escalation.objects.filter(conversation=conversation).count() == 1
