"""The timers' sweep is safe to overlap and to re-run after a worker died half-way.

Real threads, each with its own database connection (SQLite file in WAL mode
locally, PostgreSQL in CI). On PostgreSQL an action skips a row another sweep
holds (FOR UPDATE SKIP LOCKED); everywhere, an action re-checks its condition
under the lock, so a second sweep finds nothing left to do.
"""

import threading
from collections import Counter
from unittest import mock

import pytest
import time_machine
from django.db import connections

from escalations import outbox, services, timers
from escalations.models import Escalation, Event, EventType
from supervisors.models import Role
from tests import factories
from tests.escalations.conftest import OPENED, at

SWEEPS = 4


@pytest.fixture
def backlog(transactional_db):
    """30 escalations past every target at 70 minutes: 20 never claimed, 10 claimed at 1 minute."""
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    with time_machine.travel(OPENED, tick=False):
        escalations = [
            factories.open_escalation(factories.make_conversation(agent), severity="critical")
            for _ in range(30)
        ]
    with time_machine.travel(at(1), tick=False):
        for escalation in escalations[:10]:
            services.claim(escalation_id=escalation.pk, user=ana)
    return {"claimed": {e.pk for e in escalations[:10]}, "unclaimed": {e.pk for e in escalations[10:]}}


def events_per_escalation(event_type, **payload):
    rows = Event.objects.filter(type=event_type, **{f"payload__{k}": v for k, v in payload.items()})
    return Counter(rows.values_list("escalation_id", flat=True))


def test_overlapping_sweeps_act_once_on_each_due_timer(backlog):
    barrier = threading.Barrier(SWEEPS)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            # Small batches so the sweeps interleave on the same rows.
            results.append(timers.sweep(now=at(70), batch_size=3))
        except Exception as error:  # any error is a defect: keep it for the assertion
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(SWEEPS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    everyone = backlog["claimed"] | backlog["unclaimed"]
    assert events_per_escalation(EventType.SLA_BREACHED, target="resolution") == Counter(everyone)
    assert events_per_escalation(EventType.RELEASED, reason="claim expired") == Counter(backlog["claimed"])
    assert events_per_escalation(EventType.REMINDER) == Counter(everyone)
    # A lapsed claim is unclaimed past its response target too: every one is breached once.
    assert events_per_escalation(EventType.SLA_BREACHED, target="response") == Counter(everyone)
    # Every action a sweep reports is one event: none was counted twice.
    total = sum(sum(result.values()) for result in results)
    assert (
        total
        == Event.objects.filter(
            type__in=[EventType.SLA_BREACHED, EventType.REMINDER, EventType.RELEASED]
        ).count()
    )
    # And a sweep after them finds nothing left.
    assert set(timers.sweep(now=at(70)).values()) == {0}


def test_a_sweep_that_died_half_way_is_finished_by_the_next_one(backlog):
    real = services.mark_breached
    calls = 0

    def dies_on_the_third_batch(**kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise SystemExit("worker killed")
        return real(**kwargs)

    with mock.patch.object(services, "mark_breached", dies_on_the_third_batch), pytest.raises(SystemExit):
        timers.sweep(now=at(70), batch_size=2)
    assert Event.objects.filter(type=EventType.SLA_BREACHED).count() == 4  # two batches of two

    timers.sweep(now=at(70))

    everyone = Counter(backlog["claimed"] | backlog["unclaimed"])
    assert events_per_escalation(EventType.SLA_BREACHED, target="response") == everyone
    assert events_per_escalation(EventType.SLA_BREACHED, target="resolution") == everyone


def test_a_batch_that_died_mid_way_wrote_nothing_and_the_next_sweep_does_it_all(backlog):
    """The batch is one transaction: rows, history and events commit together or not at all."""
    real = outbox.append_events
    calls = 0

    def dies_writing_the_second_batch_events(items, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SystemExit("worker killed")
        return real(items, **kwargs)

    with (
        mock.patch.object(outbox, "append_events", dies_writing_the_second_batch_events),
        pytest.raises(SystemExit),
    ):
        timers.sweep(now=at(70), batch_size=10)

    # The first batch (claim expiries) committed; the second one left no trace.
    assert Escalation.objects.filter(status="open").count() == 30
    assert Escalation.objects.filter(response_breached_at__isnull=False).count() == 0
    assert Event.objects.filter(type=EventType.SLA_BREACHED).count() == 0

    timers.sweep(now=at(70))

    everyone = Counter(backlog["claimed"] | backlog["unclaimed"])
    assert events_per_escalation(EventType.SLA_BREACHED, target="response") == everyone
    assert events_per_escalation(EventType.RELEASED, reason="claim expired") == Counter(backlog["claimed"])
