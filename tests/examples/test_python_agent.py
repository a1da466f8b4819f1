"""examples/python_agent (on the escalation_console client) run as a program against daphne,
with a supervisor answering over the API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.conf import settings

from agents.models import Message
from escalations.models import Escalation
from tests.examples.conftest import WITHIN, escalation_of_running, example_env

pytestmark = pytest.mark.slow


def run_agent(billing, answer: Callable[[Escalation], None], conversation: str, *messages: str):
    """Run the example as a program; when it has escalated, answer(escalation) as the supervisor.
    Returns the escalation and the steps the program printed."""
    agent = subprocess.Popen(
        [sys.executable, "-m", "examples.python_agent.agent", "--conversation", conversation, *messages],
        cwd=settings.BASE_DIR,
        env=example_env(billing),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        escalation = escalation_of_running(agent, billing.agent)
        answer(escalation)
        out, err = agent.communicate(timeout=WITHIN)
    finally:
        agent.kill()
    assert agent.returncode == 0, err
    return escalation, [json.loads(line) for line in out.splitlines()]


def test_a_rule_escalates_and_the_agent_replies_with_the_supervisors_guidance(billing):
    def claim_and_respond(escalation):
        claimed = billing.as_supervisor("POST", f"/escalations/{escalation.pk}/claim/")
        assert claimed.status_code == 200, claimed.text
        answered = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Refund $150 and apologise."}
        )
        assert answered.status_code == 200, answered.text

    escalation, steps = run_agent(
        billing, claim_and_respond, "chat-42", "My blender arrived broken.", "I want a refund of $150, today."
    )

    # The agent waited on the long-poll: nothing after "escalated" came before the answer.
    assert [step["step"] for step in steps] == ["replied", "escalated", "answered", "replied"]
    assert steps[1]["by"] == "rule"
    assert steps[1]["reason"] == "Customer asked for a refund of $150 (limit $100)"
    assert (steps[2]["outcome"], steps[2]["responder"]) == ("resumed", "ana")
    assert steps[3]["content"] == "I checked with a colleague: Refund $150 and apologise."
    # The reply was recorded after the answer un-paused the conversation.
    last = Message.objects.filter(conversation__external_id="chat-42").order_by("-id").first()
    assert (last.role, last.content) == ("agent", steps[3]["content"])
    assert Escalation.objects.get(pk=escalation.pk).status == "resolved"


def test_the_agent_calls_escalate_to_human_itself_and_goes_on_alone_when_dismissed(billing):
    def dismiss(escalation):
        assert (escalation.origin, escalation.blocking) == ("tool_call", True)
        dismissed = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/dismiss/", json={"note": "Nothing legal here."}
        )
        assert dismissed.status_code == 200, dismissed.text

    escalation, steps = run_agent(
        billing, dismiss, "chat-43", "My lawyer will hear about this broken blender."
    )

    assert [step["step"] for step in steps] == ["escalated", "answered", "replied"]
    assert steps[0] == {
        "step": "escalated",
        "by": "agent",
        "id": escalation.pk,
        "reason": "The customer mentions legal action; a person must answer.",
    }
    assert (steps[1]["outcome"], steps[1]["note"]) == ("dismissed", "Nothing legal here.")
    assert steps[2]["content"].startswith("Thanks for your message.")
    assert Escalation.objects.filter(agent=billing.agent).count() == 1


def test_the_guarded_tool_runs_only_after_a_person_says_yes_with_their_guidance(billing):
    def respond(escalation):
        assert (escalation.origin, escalation.severity, escalation.blocking) == (
            "tool_call",
            "critical",
            True,
        )
        answered = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Refund the last month too."}
        )
        assert answered.status_code == 200, answered.text

    escalation, steps = run_agent(billing, respond, "chat-44", "Please close my account, I am moving.")

    # require_human put the call and its arguments in the reason, on the customer's conversation.
    assert escalation.reason == "Closing a customer's account cannot be undone — close_account('chat-44')"
    assert escalation.conversation.external_id == "chat-44"
    assert steps == [
        {
            "step": "tool",
            "tool": "close_account",
            "ran": True,
            "result": "Account chat-44 is closed. Refund the last month too.",
        },
        {"step": "replied", "content": "Account chat-44 is closed. Refund the last month too."},
    ]
    assert Escalation.objects.get(pk=escalation.pk).status == "resolved"


def test_the_guarded_tool_does_not_run_when_the_person_dismisses(billing):
    def dismiss(escalation):
        dismissed = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/dismiss/", json={"note": "Offer a pause instead."}
        )
        assert dismissed.status_code == 200, dismissed.text

    _, steps = run_agent(billing, dismiss, "chat-45", "Close my account now.")

    assert steps == [
        {"step": "tool", "tool": "close_account", "ran": False, "note": "Offer a pause instead."},
        {
            "step": "replied",
            "content": "I can't close your account myself; a colleague will get back to you.",
        },
    ]
    last = Message.objects.filter(conversation__external_id="chat-45").order_by("-id").first()
    assert (last.role, last.content) == ("agent", steps[1]["content"])
