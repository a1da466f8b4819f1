"""Assignment at open time: the agent's choice, else the team's policy; round robin over who is there."""

import threading
from unittest import mock

import pytest
from django.core import mail
from django.db import connections

from agents.models import Agent
from escalations import services
from escalations.models import Escalation, Event, EventType, TeamPolicy
from supervisors.models import Membership, Role
from supervisors.presence import presence_join
from tests import factories


def online(team, *users):
    for user in users:
        presence_join(team_ids=[team.pk], user_id=user.pk, connection_id=f"tab-{user.pk}")


def open_on(agent, **fields):
    return factories.open_escalation(factories.make_conversation(agent), **fields)


def assignees(agent, count):
    return [getattr(open_on(agent).assigned_to, "username", None) for _ in range(count)]


@pytest.fixture
def round_robin(team, ana, bob, olga):
    return TeamPolicy.objects.create(team=team, assignment="round_robin")


def test_by_default_nobody_is_assigned(agent, ana):
    assert open_on(agent).assigned_to is None


def test_the_teams_named_assignee_gets_the_escalations_of_agents_without_their_own(
    team, agent, bob, committed
):
    TeamPolicy.objects.create(team=team, assignment="user", assignee=bob)

    with committed():
        escalation = open_on(agent)

    assert escalation.assigned_to == bob
    assert escalation.history.get().history_change_reason.endswith("(assigned to bob: the team's assignee)")
    created = Event.objects.get(escalation=escalation, type=EventType.CREATED)
    assert created.payload["escalation"]["assigned_to"] == "bob"
    (email,) = mail.outbox
    assert email.to == ["bob@example.com"]
    assert email.subject == f"New warning escalation #{escalation.pk}, assigned to bob"
    assert "anyone on the team may still claim it" in email.body
    assert f"/console/escalations/{escalation.pk}/" in email.body


def test_the_agents_default_assignee_comes_before_the_teams_policy(team, ana, bob, round_robin):
    online(team, ana)
    agent = factories.make_agent(team, default_assignee=bob)

    assert open_on(agent).assigned_to == bob


def test_an_agent_can_keep_its_escalations_in_the_queue_whatever_the_team_does(team, ana, round_robin):
    online(team, ana)
    agent = factories.make_agent(team, assignment="none")

    assert open_on(agent).assigned_to is None


def test_an_agent_can_ask_for_round_robin_on_its_own(team, ana, bob):
    online(team, ana, bob)
    agent = factories.make_agent(team, assignment="round_robin")

    assert assignees(agent, 3) == ["ana", "bob", "ana"]


def test_round_robin_takes_turns_among_the_supervisors_online(team, agent, ana, bob, olga, round_robin):
    online(team, ana, bob)  # olga has no console open

    assert assignees(agent, 5) == ["ana", "bob", "ana", "bob", "ana"]


def test_round_robin_picks_up_after_the_last_one_when_someone_comes_online(
    team, agent, ana, bob, olga, round_robin
):
    online(team, ana, bob)
    assert assignees(agent, 1) == ["ana"]
    online(team, olga)

    assert assignees(agent, 3) == ["bob", "olga", "ana"]


def test_round_robin_skips_people_at_the_load_limit(team, agent, ana, bob, round_robin):
    round_robin.load_limit = 2
    round_robin.save()
    online(team, ana, bob)
    held = open_on(factories.make_agent(team, assignment="none"))
    services.claim(escalation_id=held.pk, user=ana)  # ana holds one already

    # ana (holding one), bob, bob again (ana is at two), then nobody: both are at two.
    assert assignees(agent, 4) == ["ana", "bob", "bob", None]


def test_a_claimed_escalation_counts_once_for_its_claimer_not_its_assignee(
    team, agent, ana, bob, round_robin
):
    round_robin.load_limit = 1
    round_robin.save()
    online(team, ana, bob)
    first = open_on(agent)
    assert first.assigned_to == ana

    # Anyone on the team may claim an assigned escalation, and it is then theirs.
    services.claim(escalation_id=first.pk, user=bob)

    first.refresh_from_db()
    assert (first.assigned_to, first.claimed_by) == (ana, bob)
    assert assignees(agent, 2) == ["ana", None]  # bob holds one, ana is free again


def test_with_nobody_online_round_robin_leaves_it_in_the_queue(agent, round_robin, committed):
    with committed():
        escalation = open_on(agent)

    assert escalation.assigned_to is None
    assert mail.outbox == []


def test_inactive_people_are_not_picked(team, agent, ana, bob, round_robin):
    online(team, ana, bob)
    type(ana).objects.filter(pk=ana.pk).update(is_active=False)

    assert assignees(agent, 2) == ["bob", "bob"]


def test_with_presence_unavailable_the_escalation_still_opens_unassigned(agent, ana, round_robin, caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    with mock.patch("supervisors.presence.shared_redis", side_effect=RedisConnectionError("down")):
        escalation = open_on(agent)

    assert escalation.assigned_to is None
    assert "Presence unavailable" in caplog.text


def test_an_agent_with_an_assignment_cannot_also_name_an_assignee(team, ana):
    agent = Agent(team=team, name="X", slug="x", description="d", assignment="none", default_assignee=ana)

    with pytest.raises(Exception) as refused:
        agent.full_clean()

    assert "default_assignee" in refused.value.message_dict


def test_a_named_team_assignee_must_be_a_member(team, outsider):
    policy = TeamPolicy(team=team, assignment="user", assignee=outsider)

    with pytest.raises(Exception) as refused:
        policy.full_clean()

    assert refused.value.message_dict == {"assignee": ["Pick a member of the team."]}


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_never_pick_from_the_same_place():
    """Eight opened at once, two people online with room for three each: 3, 3, and 2 in the queue."""
    team = factories.make_team("Billing")
    people = [factories.make_user(name) for name in ("ana", "bob")]
    for person in people:
        factories.add_member(person, team, Role.SUPERVISOR)
    TeamPolicy.objects.create(team=team, assignment="round_robin", load_limit=3)
    online(team, *people)
    agent = factories.make_agent(team, "Billing Bot")
    conversations = [factories.make_conversation(agent) for _ in range(8)]
    barrier = threading.Barrier(len(conversations))
    errors = []

    def open_one(conversation):
        try:
            barrier.wait()
            factories.open_escalation(conversation)
        except Exception as error:  # shown in the assertion below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=open_one, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    counts = sorted(
        (str(Escalation.objects.filter(assigned_to=person).count()) for person in [*people, None]),
    )
    assert counts == ["2", "3", "3"]


def test_round_robin_skips_people_off_duty(team, agent, ana, bob, round_robin):
    online(team, ana, bob)
    Membership.objects.filter(user=ana).update(on_duty=False)

    assert assignees(agent, 2) == ["bob", "bob"]
