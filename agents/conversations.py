"""Writes to conversations made from the API: find-or-create by the agent's own id."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from agents.models import Agent, Channel, Conversation
from escalation_project.sqlite_retry import retry_if_busy


@retry_if_busy
def conversation_get_or_create(
    *,
    agent: Agent,
    external_id: str,
    channel: str = Channel.API,
    subject: str = "",
    metadata: dict[str, Any] | None = None,
) -> tuple[Conversation, bool]:
    """The agent's conversation with this external_id, made if missing. An existing one is not changed."""
    existing = Conversation.objects.filter(agent=agent, external_id=external_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                agent=agent,
                external_id=external_id,
                channel=channel,
                subject=subject,
                metadata=metadata or {},
            )
        return conversation, True
    except IntegrityError:
        # Two first messages at once: the other request made it; use that one.
        return Conversation.objects.get(agent=agent, external_id=external_id), False
