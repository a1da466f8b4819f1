"""The escalation ladder: an unclaimed escalation climbs its team's levels, one at a time, telling each."""

import pytest
import time_machine
from django.core import mail

from escalations import services, team_settings
from escalations.models import Escalation, Event, EventType, LadderLevel
from supervisors.models import Membership, Role
from tests import factories
from tests.escalations.conftest import at


@pytest.fixture
def ladder(team, ana, bob, olga, outsider):
    """Level 1 after 5 minutes: the team's supervisors. Level 2 ten minutes later, high and medium
    urgency only: the owners, Legal's supervisors and Mia by name."""
    mia = factories.make_user("mia")
    LadderLevel.objects.create(team=team, number=1, after_minutes=5)
    second = LadderLevel.objects.create(
        team=team,
        number=2,
        after_minutes=10,
        min_urgency="medium",
        notify_supervisors=False,
        notify_owners=True,
        notify_team=outsider.memberships.get().team,
    )
    second.notify_users.set([mia])
    return second


def escalated(escalation):
    return list(
        Event.objects.filter(escalation=escalation, type=EventType.ESCALATED)
        .order_by("id")
        .values_list("payload__level", "payload__notified")
    )


def open_at(conversation, minutes=0, **fields):
    with time_machine.travel(at(minutes), tick=False):
        return factories.open_escalation(conversation, **fields)


def test_without_a_ladder_nothing_climbs(critical, ana, sweep):
    assert critical.next_level_at is None

    sweep(600)

    assert escalated(critical) == []


def test_an_unclaimed_escalation_climbs_one_level_at_a_time_and_stops_at_the_top(ladder, conversation, sweep):
    critical = open_at(conversation, severity="critical")
    assert critical.next_level_at == at(5)

    sweep(4.9)
    assert escalated(critical) == []
    sweep(5)
    assert escalated(critical) == [(1, ["ana", "bob", "olga"])]
    sweep(14.9)
    assert len(escalated(critical)) == 1
    sweep(15)
    assert escalated(critical) == [(1, ["ana", "bob", "olga"]), (2, ["mia", "olga", "otto"])]
    sweep(600)

    assert len(escalated(critical)) == 2
    critical.refresh_from_db()
    assert (critical.level, critical.next_level_at) == (2, None)


def test_running_the_sweep_twice_climbs_once(ladder, conversation, sweep):
    critical = open_at(conversation, severity="critical")

    first = sweep(5)
    second = sweep(5)

    assert (first["ladder"], second["ladder"]) == (1, 0)
    assert len(escalated(critical)) == 1
    critical.refresh_from_db()
    assert (critical.level, critical.next_level_at) == (1, at(15))


def test_each_level_is_an_event_an_audit_row_and_an_email(ladder, conversation, sweep):
    critical = open_at(conversation, severity="critical")

    sweep(5)

    event = Event.objects.get(escalation=critical, type=EventType.ESCALATED)
    assert event.payload["actor"] == {"user": None, "agent": None}
    assert event.payload["escalation"]["level"] == 1
    audit = critical.history.latest("history_id")
    assert (audit.history_user, audit.level, audit.history_change_reason) == (
        None,
        1,
        "Timer: unclaimed: escalated to level 1, notifying ana, bob, olga",
    )
    (email,) = mail.outbox
    assert sorted(email.to) == ["ana@example.com", "bob@example.com", "olga@example.com"]
    assert email.subject == f"Escalated to level 1: escalation #{critical.pk} is still unclaimed"
    assert f"http://127.0.0.1:8000/console/escalations/{critical.pk}/" in email.body


def test_a_low_urgency_escalation_stops_at_the_level_before_its_minimum(ladder, conversation, sweep):
    low = open_at(conversation, severity="info")  # low urgency

    sweep(5)
    sweep(15)
    sweep(600)

    assert escalated(low) == [(1, ["ana", "bob", "olga"])]
    low.refresh_from_db()
    assert low.next_level_at is None


def test_raising_the_urgency_resumes_a_climb_that_had_stopped(ladder, conversation, sweep):
    low = open_at(conversation, severity="info")
    sweep(5)
    open_at(conversation, 20, severity="info", urgency="high")  # a later trigger, more urgent

    sweep(29.9)
    assert len(escalated(low)) == 1
    sweep(30)

    assert [level for level, _ in escalated(low)] == [1, 2]


def test_claiming_stops_the_climb(long_claims, ladder, conversation, ana, sweep):
    critical = open_at(conversation, severity="critical")
    with time_machine.travel(at(3), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)

    sweep(5)
    sweep(600)

    assert escalated(critical) == []
    critical.refresh_from_db()
    assert critical.next_level_at is None


def test_releasing_restarts_the_climb_from_the_level_reached(long_claims, ladder, conversation, ana, sweep):
    critical = open_at(conversation, severity="critical")
    sweep(5)  # level 1
    with time_machine.travel(at(6), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)
    sweep(15)  # claimed: level 2 is not due
    with time_machine.travel(at(20), tick=False):
        services.release(escalation_id=critical.pk, user=ana)

    critical.refresh_from_db()
    assert (critical.level, critical.next_level_at) == (1, at(30))
    sweep(29.9)
    assert len(escalated(critical)) == 1
    sweep(30)
    assert [level for level, _ in escalated(critical)] == [1, 2]


def test_an_expired_claim_climbs_again(ladder, conversation, ana, sweep):
    critical = open_at(conversation, severity="critical")
    with time_machine.travel(at(1), tick=False):
        services.claim(escalation_id=critical.pk, user=ana)  # the lease (15 min) lapses at 16

    sweep(16)
    critical.refresh_from_db()
    assert (critical.status, critical.next_level_at) == ("open", at(21))
    sweep(21)

    assert [level for level, _ in escalated(critical)] == [1]


def test_a_closed_escalation_does_not_climb(ladder, conversation, ana, sweep):
    critical = open_at(conversation, severity="critical")
    with time_machine.travel(at(2), tick=False):
        services.respond(escalation_id=critical.pk, user=ana, guidance="Refund it.")

    sweep(600)

    assert escalated(critical) == []
    assert Escalation.objects.get(pk=critical.pk).next_level_at is None


def test_a_level_removed_meanwhile_stops_the_climb_quietly(ladder, conversation, team, sweep):
    critical = open_at(conversation, severity="critical")
    sweep(5)
    LadderLevel.objects.filter(team=team, number=2).delete()

    acted = sweep(15)

    assert acted["ladder"] == 0
    assert len(escalated(critical)) == 1
    assert Escalation.objects.get(pk=critical.pk).next_level_at is None


def test_a_level_notifies_only_active_people_each_once(ladder, conversation, team, olga, sweep):
    ladder.notify_supervisors = True  # olga is both a supervisor of the team and its owner
    ladder.save()
    factories.add_member(factories.make_user("gone", is_active=False), team, Role.SUPERVISOR)
    critical = open_at(conversation, severity="critical")

    sweep(5)
    sweep(15)

    assert escalated(critical)[1] == (2, ["ana", "bob", "mia", "olga", "otto"])


def test_the_first_level_may_come_at_once(team, ana, conversation, sweep):
    LadderLevel.objects.create(team=team, number=1, after_minutes=0)
    critical = open_at(conversation, severity="critical")

    sweep(0)

    assert escalated(critical) == [(1, ["ana"])]


def test_supervisors_off_duty_are_not_told_but_owners_are(ladder, conversation, bob, olga, outsider, sweep):
    Membership.objects.filter(user__in=[bob, olga, outsider]).update(on_duty=False)
    critical = open_at(conversation, severity="critical")

    sweep(5)
    sweep(15)

    # Level 1: supervisors on duty; level 2: owners whatever their duty, Legal's on duty, mia by name.
    assert escalated(critical) == [(1, ["ana"]), (2, ["mia", "olga"])]


# --- A ladder changed while escalations are open --------------------------------------------


def ladder_set_at(minutes: float, team, levels: list[dict]) -> None:
    with time_machine.travel(at(minutes), tick=False):
        team_settings.ladder_set(team_id=team.pk, levels=levels)


def test_a_ladder_set_up_while_an_escalation_waits_starts_its_climb_counted_from_then(
    team, conversation, ana, sweep
):
    waiting = open_at(conversation, severity="critical")
    assert waiting.next_level_at is None  # no ladder yet

    ladder_set_at(30, team, [{"after_minutes": 5}])

    waiting.refresh_from_db()
    assert waiting.next_level_at == at(35)
    sweep(34.9)
    assert escalated(waiting) == []
    sweep(35)
    assert [level for level, _ in escalated(waiting)] == [1]


def test_a_ladder_extended_above_where_a_climb_stopped_restarts_it(ladder, team, conversation, sweep):
    critical = open_at(conversation, severity="critical")
    sweep(5)
    sweep(15)  # the top: level 2
    levels = [{"after_minutes": 5}, {"after_minutes": 10}, {"after_minutes": 20, "notify_owners": True}]

    ladder_set_at(40, team, levels)

    critical.refresh_from_db()
    assert (critical.level, critical.next_level_at) == (2, at(60))
    sweep(60)
    assert [level for level, _ in escalated(critical)] == [1, 2, 3]


def test_a_ladder_change_leaves_claimed_escalations_and_levels_they_may_not_reach_alone(
    long_claims, team, agent, conversation, ana, sweep
):
    claimed = open_at(conversation, severity="critical")
    with time_machine.travel(at(1), tick=False):
        services.claim(escalation_id=claimed.pk, user=ana)
    low = open_at(factories.make_conversation(agent, "chat-2"), 2, severity="info")
    assert low.pk != claimed.pk

    ladder_set_at(10, team, [{"after_minutes": 5, "min_urgency": "medium"}])

    claimed.refresh_from_db()
    low.refresh_from_db()
    assert (claimed.next_level_at, low.next_level_at) == (None, None)
