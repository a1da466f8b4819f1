"""A minimal support agent that stops and asks a human, on the `escalation_console` client.

    ESCALATION_API_URL=http://127.0.0.1:8000 ESCALATION_AGENT_KEY=ak_… \\
        python -m examples.python_agent.agent --conversation chat-42 \\
        "My blender arrived broken." "I want a refund of \\$150, today."

Each argument is a customer message. The agent records it in the console,
where the agent's rules run on it. When a rule escalates (say, a refund over
the agent's limit), or when the agent decides by itself that a human must
decide (here: the customer talks about a lawyer) and escalates, it waits for
the supervisor's answer and then replies with the guidance, or on its own if
the supervisor dismissed the escalation. Its one risky tool, close_account,
is guarded with `require_human`: it runs only once a person has said yes.
It prints one JSON line per step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from escalation_console import Client, Conversation, Dismissed, Escalation, Resolution


def needs_human(text: str) -> str | None:
    """The agent's own judgement (an LLM's tool call in a real agent): why a human must decide, or None."""
    if "lawyer" in text.lower() or "legal" in text.lower():
        return "The customer mentions legal action; a person must answer."
    return None


def wants_account_closed(text: str) -> bool:
    """Stands in for an LLM choosing the close_account tool."""
    return "close my account" in text.lower()


def close_account(customer: str, *, guidance: str = "") -> str:
    """The risky tool: closing an account cannot be undone. `guidance` is what the person said."""
    return f"Account {customer} is closed." + (f" {guidance}" if guidance else "")


def guarded_close_account(client: Client, conversation: Conversation) -> Callable[[str], str]:
    """close_account behind a person's yes: each call escalates (critical, on this conversation, the
    call's arguments in the reason), waits, and runs only if the person responds; Dismissed otherwise."""
    guard = client.require_human(
        severity="critical",
        reason="Closing a customer's account cannot be undone",
        conversation=conversation.external_id,
    )
    return guard(close_account)


def reply_to(text: str, resolution: Resolution | None) -> str:
    """What the agent answers (an LLM's reply in a real agent), following the human's guidance if any."""
    if resolution is not None and resolution.outcome == "resumed":
        return f"I checked with a colleague: {resolution.guidance}"
    return f"Thanks for your message. Here is what I can do about “{text}”: …"


def answered(resolution: Resolution) -> dict:
    return {
        "step": "answered",
        "outcome": resolution.outcome,
        "guidance": resolution.guidance,
        "note": resolution.note,
        "responder": resolution.responder,
    }


def use_close_account(client: Client, conversation: Conversation, steps: list[dict]) -> str:
    """Call the guarded tool; the reply says what happened."""
    try:
        result = guarded_close_account(client, conversation)(conversation.external_id)
    except Dismissed as refused:
        steps.append({"step": "tool", "tool": "close_account", "ran": False, "note": refused.resolution.note})
        return "I can't close your account myself; a colleague will get back to you."
    steps.append({"step": "tool", "tool": "close_account", "ran": True, "result": result})
    return result


def ask_human_if_needed(
    conversation: Conversation, text: str, escalation: Escalation | None, steps: list[dict]
) -> Resolution | None:
    """The human's answer when a rule escalated (`escalation`) or the agent judges one must decide."""
    if escalation is not None:
        steps.append({"step": "escalated", "by": "rule", "id": escalation.id, "reason": escalation.reason})
    elif (reason := needs_human(text)) is not None:
        # The client sends an Idempotency-Key with each escalate: if the call is retried after a lost
        # connection, the console opens one escalation, not two.
        escalation = conversation.escalate(reason, "warning")
        steps.append({"step": "escalated", "by": "agent", "id": escalation.id, "reason": escalation.reason})
    if escalation is None or not escalation.blocking:
        return None
    # Long-polls: the server answers as soon as a supervisor does, and holds no request over 60 s.
    resolution = escalation.wait()
    steps.append(answered(resolution))
    return resolution


def handle(client: Client, conversation: Conversation, text: str) -> list[dict]:
    """One customer message: record it, escalate if needed, wait for the human, reply. Returns the steps."""
    steps: list[dict] = []
    posted = conversation.post_message("user", text)  # the agent's rules run on it in the console
    if posted.escalation is None and wants_account_closed(text):
        reply = use_close_account(client, conversation, steps)
    else:
        reply = reply_to(text, ask_human_if_needed(conversation, text, posted.escalation, steps))
    # Sent once the human answered: while a blocking escalation waits, it would be refused
    # (ConversationPaused).
    conversation.post_message("agent", reply)
    steps.append({"step": "replied", "content": reply})
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversation", required=True, help="Your id of the conversation.")
    parser.add_argument("--channel", default="chat")
    parser.add_argument("messages", nargs="+", help="The customer's messages, in order.")
    args = parser.parse_args(argv)
    url = os.environ.get("ESCALATION_API_URL", "http://127.0.0.1:8000")  # `make run`'s address
    with Client(url, os.environ["ESCALATION_AGENT_KEY"]) as client:
        conversation = client.conversation(args.conversation, channel=args.channel)
        for text in args.messages:
            for step in handle(client, conversation, text):
                print(json.dumps(step), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
