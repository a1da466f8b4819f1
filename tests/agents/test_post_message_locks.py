"""The locks post_message holds, on PostgreSQL (SQLite has no row locks: IMMEDIATE transactions
serialise every writer there, so neither the wait nor the deadlock below can happen)."""

from django.db import OperationalError, connection, transaction

from agents.services import post_message
from escalations.services import EVENT_ORDER_LOCK
from tests import factories
from tests.pg_locks import in_a_thread, postgresql_only, wait_until_a_lock_is_awaited

pytestmark = postgresql_only


def test_a_message_opening_an_escalation_leaves_its_agents_row_unlocked(transactional_db):
    """bench/soak.py found a deadlock: post_message locked the agent's row with its conversation
    (select_for_update with select_related locks every joined row), then waited for the
    event-order lock, while an agent's withdraw held that lock and inserted its event, whose
    actor_agent foreign key needs KEY SHARE on the same agent row."""
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    factories.make_rule(agent)  # fires on "refund"
    conversation = factories.make_conversation(agent)
    poster, outcome = in_a_thread(
        lambda: post_message(conversation=conversation, role="user", content="A refund, please")
    )
    blocked = None
    with transaction.atomic(), connection.cursor() as cursor:
        # Another transition holds the event-order lock, as the withdraw did in the soak.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
        poster.start()
        wait_until_a_lock_is_awaited(cursor, "locktype = 'advisory' AND objid = %s", [EVENT_ORDER_LOCK])
        # What that transition does next: its event's actor_agent foreign key check. NOWAIT:
        # a lock held by the waiting message fails at once instead of deadlocking.
        try:
            with transaction.atomic():
                cursor.execute("SELECT 1 FROM agents_agent WHERE id = %s FOR KEY SHARE NOWAIT", [agent.pk])
        except OperationalError as error:
            blocked = error
    poster.join(timeout=30)

    assert blocked is None, f"the waiting message holds a lock on its agent's row: {blocked}"
    assert "error" not in outcome, outcome
    assert outcome["done"].escalation is not None
