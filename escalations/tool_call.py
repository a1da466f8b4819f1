"""The escalate_to_human tool call: find or make the conversation, then open (or add to) its escalation."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agents.conversations import conversation_get_or_create
from agents.models import Agent, Channel, Conversation, ConversationStatus
from escalation_project.sqlite_retry import retry_if_busy
from escalations import services
from escalations.models import Origin
from escalations.team_config import stamps_read_once


@retry_if_busy
def escalate_to_human(
    *,
    agent: Agent,
    conversation_id: int | None = None,
    external_id: str = "",
    channel: str = Channel.API,
    context: str = "",
    **fields: Any,
) -> services.OpenResult:
    """Exactly one of conversation_id (ours) or external_id (the agent's; made if missing).

    `context`, the agent's words for the person, is shown on the card as a rule's evidence is.

    One transaction, so a refused escalation leaves no new conversation behind. `agent` with its
    team read in this request (the agent key's check loads both): the team's settings stamp is
    taken from it rather than read again.
    """
    with transaction.atomic(), stamps_read_once(agent.team):
        new = False
        if conversation_id is not None:
            conversation = (
                Conversation.objects.select_for_update().filter(pk=conversation_id, agent=agent).first()
            )
            if conversation is None:
                # The same words for another agent's conversation: nothing leaks.
                raise ValidationError({"conversation_id": f"There is no conversation {conversation_id}."})
        else:
            # A new conversation is made already awaiting the human a blocking escalation asks
            # for: that spares the UPDATE of its status right after.
            blocking = fields.get("blocking", True)
            conversation, new = conversation_get_or_create(
                agent=agent,
                external_id=external_id,
                channel=channel,
                status=ConversationStatus.AWAITING_HUMAN if blocking else ConversationStatus.ACTIVE,
            )
        conversation.agent = agent  # already loaded: spares the service a query
        evidence = [{"kind": "context", "text": context}] if context else None
        return services.open_escalation(
            conversation=conversation,
            origin=Origin.TOOL_CALL,
            evidence=evidence,
            conversation_locked=True,
            conversation_new=new,
            **fields,
        )
