"""A sweep's statements do not grow with the number of due escalations: each timer acts on a batch at once.

Every timer has due work in these sweeps (claim expiries, both breaches, timeouts,
ladder climbs, reminders), with a webhook endpoint subscribed to everything, so
every bulk write of a batch is exercised; 6 due escalations and 60 must cost the
same statements.
"""

import datetime as dt
from collections import Counter
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations import services, timers
from escalations.models import Escalation, Event, EventType, LadderLevel
from escalations.team_config import forget_team_config
from tests import factories
from tests.escalations.conftest import OPENED
from webhooks import services as webhook_services
from webhooks.models import Delivery

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def config_kept(settings):
    """The team's configuration kept, as in production (the tests' default keeps nothing)."""
    settings.TEAM_CONFIG_KEPT = True


@pytest.fixture
def billing(team, agent, ana, bob, olga):
    LadderLevel.objects.create(team=team, number=1, after_minutes=30)
    LadderLevel.objects.create(team=team, number=2, after_minutes=30, notify_owners=True)
    webhook_services.endpoint_create(team=team, url="https://93.184.216.34/hook", event_types=[])
    agent.timeout_guidance = "Offer the standard refund."
    agent.save()
    return agent


def open_due_work(agent, ana, n: int, opened: dt.datetime) -> list[Escalation]:
    """n critical escalations: a third claimed a minute in (the lease lapses at 16), a third answered
    by their timeout policy at 60, a third left open."""
    with time_machine.travel(opened, tick=False):
        escalations = [
            factories.open_escalation(
                factories.make_conversation(agent),
                severity="critical",
                timeout_policy="answer" if k % 3 == 1 else "keep_waiting",
            )
            for k in range(n)
        ]
    with time_machine.travel(opened + MINUTE, tick=False):
        for escalation in escalations[::3]:
            services.claim(escalation_id=escalation.pk, user=ana)
    return escalations


def counted_sweep(moment: dt.datetime) -> tuple[dict[str, int], int]:
    forget_team_config()  # each sweep reads the configuration afresh
    with (
        mock.patch("webhooks.tasks.deliver.delay"),
        time_machine.travel(moment, tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        acted = timers.sweep()
    return acted, len(queries.captured_queries)


def test_a_sweep_costs_the_same_statements_for_6_or_60_due_escalations(config_kept, billing, ana):
    small = open_due_work(billing, ana, 6, OPENED)
    acted_small, statements_small = counted_sweep(OPENED + 61 * MINUTE)
    Escalation.objects.all().delete()  # and their events: the next sweep sees only the 60
    later = OPENED + dt.timedelta(days=1)
    large = open_due_work(billing, ana, 60, later)
    acted_large, statements_large = counted_sweep(later + 61 * MINUTE)

    assert acted_small == {
        "claim_expiry": 2,
        "response_breach": 6,
        "resolution_breach_open": 6,
        "resolution_breach_claimed": 0,
        "timeout_open": 2,
        "timeout_claimed": 0,
        "ladder": 2,
        "reminder_open": 4,
        "reminder_claimed": 0,
    }
    assert acted_large == {name: count * 10 for name, count in acted_small.items()}
    assert statements_large == statements_small
    assert len(small) * 10 == len(large)
    # And it did all of it: an event and a webhook delivery per action.
    events = Counter(Event.objects.values_list("type", flat=True))
    assert events[EventType.SLA_BREACHED] == 120
    assert events[EventType.RELEASED] == 20
    assert events[EventType.RESOLVED] == 20
    assert events[EventType.ESCALATED] == 20
    assert events[EventType.REMINDER] == 40
    assert Delivery.objects.filter(event__type=EventType.REMINDER).count() == 40


def test_a_batch_writes_one_history_row_per_escalation_naming_the_timer(config_kept, billing, ana):
    escalations = open_due_work(billing, ana, 6, OPENED)
    with mock.patch("webhooks.tasks.deliver.delay"), time_machine.travel(OPENED + 20 * MINUTE, tick=False):
        acted = timers.sweep()

    assert acted["response_breach"] == 6
    for escalation in escalations:
        latest = escalation.history.latest("history_id")
        assert latest.history_user is None
        assert latest.history_change_reason == "Timer: response target passed (due 09:15 UTC)"
        assert latest.response_breached_at == OPENED + 20 * MINUTE
