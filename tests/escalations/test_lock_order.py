"""Transitions that resume a conversation lock it before the escalation, as post_message and
open_escalation do (conversation, then its active escalation). In the other order an answer and a
user's message arriving at that moment deadlock on PostgreSQL: the answer holds the escalation and
waits for the conversation, the message holds the conversation and waits for the escalation.

PostgreSQL only: SQLite has no row locks (its IMMEDIATE transactions serialise every writer).
"""

import datetime as dt

import pytest
from django.db import OperationalError, connection, transaction

from agents.models import Conversation
from escalations import services
from supervisors.models import Role
from tests import factories
from tests.pg_locks import in_a_thread, postgresql_only, wait_until_a_lock_is_awaited

pytestmark = postgresql_only


@pytest.fixture
def waiting(transactional_db):
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    agent = factories.make_agent(team, "Billing Bot", timeout_policy="dismiss")
    escalation = factories.open_escalation(factories.make_conversation(agent))
    return escalation, ana, agent


TRANSITIONS = {
    "respond": lambda e, ana, agent: services.respond(escalation_id=e.pk, user=ana, guidance="Refund it."),
    "dismiss": lambda e, ana, agent: services.dismiss(escalation_id=e.pk, user=ana),
    "withdraw": lambda e, ana, agent: services.withdraw(escalation_id=e.pk, agent=agent),
    "time_out": lambda e, ana, agent: services.time_out(
        escalation_ids=[e.pk], now=e.resolution_due_at + dt.timedelta(seconds=1)
    ),
}


@pytest.mark.parametrize("verb", sorted(TRANSITIONS))
def test_a_transition_that_resumes_the_conversation_locks_it_before_the_escalation(waiting, verb):
    escalation, ana, agent = waiting
    actor, outcome = in_a_thread(lambda: TRANSITIONS[verb](escalation, ana, agent))
    blocked = None
    with transaction.atomic(), connection.cursor() as cursor:
        # A user's message being posted: post_message holds the conversation...
        Conversation.objects.select_for_update().get(pk=escalation.conversation_id)
        actor.start()
        if verb == "time_out":
            # The timer skips a conversation someone holds: it ends without waiting for its lock.
            # One that waited instead would still be running after this, holding the escalation
            # (refused just below).
            actor.join(timeout=15)
        else:
            wait_until_a_lock_is_awaited(cursor, "locktype = 'transactionid'")
        # ... and its rule fires: open_escalation locks the conversation's active escalation.
        try:
            with transaction.atomic():
                cursor.execute(
                    "SELECT 1 FROM escalations_escalation WHERE id = %s FOR UPDATE NOWAIT", [escalation.pk]
                )
        except OperationalError as error:
            blocked = error
    actor.join(timeout=30)

    assert blocked is None, f"{verb} holds the escalation while it waits for the conversation: {blocked}"
    assert "error" not in outcome, outcome
