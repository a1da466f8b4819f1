"""Redis stopped (its process gone, its port refusing): the console, logins and the agent API go on
from the database; webhooks wait in the outbox and go out once Redis is back."""

from __future__ import annotations

import pytest
from django.test import Client

from supervisors.models import Role
from tests import factories

pytestmark = pytest.mark.faults


def test_the_queue_counts_from_the_database_and_says_live_updates_are_offline(db, redis_refusing):
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"), "chat-1")
    factories.open_escalation(conversation, severity="critical")
    client = Client()
    client.force_login(ana)

    response = client.get("/console/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "Live updates offline" in text
    assert '<span class="queue-count">1</span> unanswered' in text  # the count, from the database
    assert f'data-presence-team="{team.pk}">?</span>' in text  # presence unknown, not 0


@pytest.mark.slow
def test_with_redis_stopped_supervisors_sign_in_and_answer_and_every_webhook_goes_out_after(
    outage, own_redis
):
    # Started again on the same port: daphne, the worker and beat reconnect.
    figures = outage(break_redis=own_redis.stop, mend_redis=own_redis.start)

    print(f"\nRedis stopped: {figures}")  # the figures in bench/README.md (the fault suite)
