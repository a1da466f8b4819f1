"""A minimal support agent that stops and asks a human, with nothing but `requests`.

    ESCALATION_API_URL=http://127.0.0.1:8000 ESCALATION_AGENT_KEY=ak_… \\
        python -m examples.python_agent.agent --conversation chat-42 \\
        "My blender arrived broken." "I want a refund of \\$150, today."

Each argument is a customer message. The agent records it in the console,
where the agent's rules run on it. When a rule escalates (say, a refund over
the agent's limit), or when the agent decides by itself that a human must
decide (here: the customer talks about a lawyer) and calls escalate_to_human,
it waits for the supervisor's answer on the long-poll and then replies with
the guidance, or on its own if the supervisor dismissed the escalation.
It prints one JSON line per step.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from examples.client import AgentClient


def needs_human(text: str) -> str | None:
    """The agent's own judgement (an LLM's tool call in a real agent): why a human must decide, or None."""
    if "lawyer" in text.lower() or "legal" in text.lower():
        return "The customer mentions legal action; a person must answer."
    return None


def reply_to(text: str, resolution: dict | None) -> str:
    """What the agent answers (an LLM's reply in a real agent), following the human's guidance if any."""
    if resolution and resolution["outcome"] == "resumed":
        return f"I checked with a colleague: {resolution['guidance']}"
    return f"Thanks for your message. Here is what I can do about “{text}”: …"


def handle(client: AgentClient, conversation_id: int, text: str) -> list[dict]:
    """One customer message: record it, escalate if needed, wait for the human, reply. Returns the steps."""
    steps: list[dict] = []
    posted = client.post_message(conversation_id, "user", text)
    escalation = posted["escalation"]
    if escalation is not None:
        steps.append(
            {"step": "escalated", "by": "rule", "id": escalation["id"], "reason": escalation["reason"]}
        )
    elif (reason := needs_human(text)) is not None:
        # One key per decision: if this call is retried, the console opens one escalation, not two.
        escalation = client.escalate_to_human(
            conversation_id=conversation_id,
            reason=reason,
            severity="warning",
            idempotency_key=uuid.uuid4().hex,
        )
        steps.append(
            {"step": "escalated", "by": "agent", "id": escalation["id"], "reason": escalation["reason"]}
        )
    resolution = None
    if escalation is not None and escalation["blocking"]:
        resolution = client.wait_for_answer(escalation["id"])["resolution"]
        steps.append({"step": "answered", **resolution})
    reply = reply_to(text, resolution)
    client.post_message(conversation_id, "agent", reply)
    steps.append({"step": "replied", "content": reply})
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversation", required=True, help="Your id of the conversation.")
    parser.add_argument("--channel", default="chat")
    parser.add_argument("messages", nargs="+", help="The customer's messages, in order.")
    args = parser.parse_args(argv)
    client = AgentClient.from_env()
    conversation = client.open_conversation(args.conversation, channel=args.channel)
    for text in args.messages:
        for step in handle(client, conversation["id"], text):
            print(json.dumps(step), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
