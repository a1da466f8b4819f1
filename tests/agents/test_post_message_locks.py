"""The locks post_message holds, on PostgreSQL (SQLite has no row locks: IMMEDIATE transactions
serialise every writer there, so neither the wait nor the deadlock below can happen)."""

import threading
import time

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction

from agents.services import post_message
from escalations.services import EVENT_ORDER_LOCK
from tests import factories

pytestmark = pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="Row locks are PostgreSQL's; runs in CI's PostgreSQL pass.",
)


def wait_until_someone_waits_for_the_event_order_lock(cursor) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
            [EVENT_ORDER_LOCK],
        )
        if cursor.fetchone()[0]:
            return
        time.sleep(0.05)
    raise AssertionError("post_message never reached the event-order lock")


def test_a_message_opening_an_escalation_leaves_its_agents_row_unlocked(transactional_db):
    """bench/soak.py found a deadlock: post_message locked the agent's row with its conversation
    (select_for_update with select_related locks every joined row), then waited for the
    event-order lock, while an agent's withdraw held that lock and inserted its event, whose
    actor_agent foreign key needs KEY SHARE on the same agent row."""
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    factories.make_rule(agent)  # fires on "refund"
    conversation = factories.make_conversation(agent)
    outcome: dict = {}

    def post() -> None:
        try:
            outcome["posted"] = post_message(
                conversation=conversation, role="user", content="A refund, please"
            )
        except Exception as error:  # shown by the assertion below
            outcome["error"] = error
        finally:
            connections.close_all()

    blocked = None
    poster = threading.Thread(target=post)
    with transaction.atomic(), connection.cursor() as cursor:
        # Another transition holds the event-order lock, as the withdraw did in the soak.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
        poster.start()
        wait_until_someone_waits_for_the_event_order_lock(cursor)
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
    assert outcome["posted"].escalation is not None
