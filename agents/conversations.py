"""Writes to conversations made from the API: find-or-create by the agent's own id."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from agents.models import Agent, Channel, Conversation, ConversationStatus
from escalation_project.sqlite_retry import retry_if_busy


@retry_if_busy
def conversation_get_or_create(
    *,
    agent: Agent,
    external_id: str,
    channel: str = Channel.API,
    subject: str = "",
    metadata: dict[str, Any] | None = None,
    status: ConversationStatus = ConversationStatus.ACTIVE,
) -> tuple[Conversation, bool]:
    """The agent's conversation with this external_id, made (with `status`) if missing. An existing
    one is not changed. Either way its row is locked until the caller's transaction ends (the
    tool call opens an escalation on it next, and needs no second lock); outside one, until this
    returns.

    One statement for a new conversation, two for an existing one: an INSERT that does nothing
    when the agent already has that external_id, then the locked read. No IntegrityError and
    savepoint for two first messages at once: the second INSERT waits for the first's commit
    (PostgreSQL; SQLite's IMMEDIATE transactions take turns), then does nothing and reads it.
    """
    conversation = Conversation(
        agent=agent,
        external_id=external_id,
        channel=channel,
        subject=subject,
        metadata=metadata or {},
        status=status,
    )
    with transaction.atomic(savepoint=False):
        if _insert_unless_exists(conversation):
            return conversation, True
        existing = Conversation.objects.select_for_update().get(agent=agent, external_id=external_id)
    existing.agent = agent  # the caller's, already loaded: spares a query
    return existing, False


def _insert_unless_exists(conversation: Conversation) -> bool:
    """INSERT … ON CONFLICT (agent, external_id) DO NOTHING RETURNING id (PostgreSQL and SQLite 3.35+
    both speak it; Django's bulk_create(ignore_conflicts=True) returns no id). True, with the id
    set, if the row was inserted."""
    meta = Conversation._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(conversation, add=True), connection) for field in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('agent_id')}, {quote('external_id')}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    conversation.pk = row[0]
    conversation._state.adding = False
    conversation._state.db = connection.alias
    return True
