"""How the demo's stories talk: conversations posted through the product, checked as they go.

Shared by today's stories (escalations/demo.py) and the month before (demo_history.py).
"""

from __future__ import annotations

from typing import Any

from agents import services as agent_services
from agents.conversations import conversation_get_or_create
from agents.models import Agent, Channel, Conversation, EscalationRule, MessageRole
from escalations.models import Escalation


class DemoWordingError(RuntimeError):
    """A demo message no longer does what its story says (a rule or engine change)."""


def tell_conversation(
    agent: Agent,
    external_id: str,
    channel: Channel,
    subject: str,
    messages: list[tuple[MessageRole, str]],
    *,
    fires: EscalationRule | None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Conversation, Escalation | None]:
    """The conversation as the API makes it, its messages posted in turn; only the last may fire.

    `fires` is the rule the last message must fire (None: no rule may fire at all);
    returns the escalation it opened.
    """
    conversation, _ = conversation_get_or_create(
        agent=agent, external_id=external_id, channel=channel, subject=subject, metadata=metadata
    )
    *earlier, (last_role, last_text) = messages
    for role, text in earlier:
        say(conversation, role, text)
    return conversation, say(conversation, last_role, last_text, fires=fires)


def say(
    conversation: Conversation, role: MessageRole, text: str, *, fires: EscalationRule | None = None
) -> Escalation | None:
    """Post through the product; raise if the rules' verdict is not the one the story needs."""
    posted = agent_services.post_message(conversation=conversation, role=role, content=text)
    fired = posted.hits[0].rule_id if posted.hits else None
    expected = fires.pk if fires is not None else None
    if fired != expected:
        names = dict(EscalationRule.objects.filter(agent=conversation.agent).values_list("pk", "name"))
        raise DemoWordingError(
            f"Demo message {text!r} fired {names.get(fired, 'no rule')}, "
            f"expected {names.get(expected, 'no rule')}: reword the message."
        )
    return posted.escalation
