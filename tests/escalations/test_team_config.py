"""A team's configuration is kept per process until the team's settings stamp moves: every
write through escalations.team_settings moves it, so a change is seen at once, in any process."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations import services, team_settings
from escalations.models import LadderLevel, TeamPolicy, UrgencyTarget
from escalations.targets import targets_for
from escalations.team_config import stamps_read_once
from supervisors.models import Team

CONFIG_TABLES = ("escalations_urgencytarget", "escalations_businesshours", "escalations_teampolicy",
                 "escalations_ladderlevel")  # fmt: skip


@pytest.fixture(autouse=True)
def kept(settings):
    settings.TEAM_CONFIG_KEPT = True


def config_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in CONFIG_TABLES)]


def stamp_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"supervisors_team"' in q["sql"]]


def set_high(team, minutes: int) -> None:
    team_settings.urgency_target_set(
        team_id=team.pk,
        urgency="high",
        response_minutes=minutes,
        resolution_minutes=30,
        claim_minutes=15,
        reminder_minutes=15,
    )


def test_a_teams_targets_are_read_once_then_kept_under_its_stamp(team):
    set_high(team, 7)
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7

    with CaptureQueriesContext(connection) as queries:
        assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7
    assert config_reads(queries) == []
    assert len(stamp_reads(queries)) == len(queries.captured_queries) == 1


def test_a_write_through_the_services_is_seen_at_once(team):
    set_high(team, 7)
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7

    set_high(team, 9)
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 9

    team_settings.urgency_target_reset(team_id=team.pk, urgency="high")
    assert targets_for(team_id=team.pk, urgency="high").source == "built-in"


def test_a_default_target_moves_every_teams_stamp(team):
    other = Team.objects.create(name="Other", slug="other")
    assert targets_for(team_id=other.pk, urgency="low").source == "built-in"
    default = UrgencyTarget(
        team=None,
        urgency="low",
        response_minutes=99,
        resolution_minutes=999,
        claim_minutes=15,
        reminder_minutes=15,
    )

    team_settings.team_settings_save(saved=[default])

    assert targets_for(team_id=other.pk, urgency="low").response_minutes == 99
    assert targets_for(team_id=team.pk, urgency="low").response_minutes == 99


def test_a_write_that_bypasses_the_services_is_not_seen_until_the_stamp_moves(team):
    TeamPolicy.objects.create(team=team, email_breaches=False)
    assert TeamPolicy.of(team.pk).email_breaches is False
    TeamPolicy.objects.filter(team=team).update(email_breaches=True)  # no stamp: nobody is told

    assert TeamPolicy.of(team.pk).email_breaches is False  # kept: the stamp is what counts
    # What another process's write through team_settings commits alongside its change.
    team_settings.team_settings_changed(team_id=team.pk)
    assert TeamPolicy.of(team.pk).email_breaches is True


def test_within_stamps_read_once_each_team_is_stamped_once(team):
    set_high(team, 7)
    with stamps_read_once(), CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            targets_for(team_id=team.pk, urgency="high")
            TeamPolicy.of(team.pk)
    assert len(stamp_reads(queries)) == 1


def test_a_team_read_in_the_unit_of_work_costs_no_stamp_query_even_in_an_inner_block(team):
    set_high(team, 7)
    targets_for(team_id=team.pk, urgency="high")  # kept
    read = Team.objects.get(pk=team.pk)  # as the key check or post_message's locked read has it

    with stamps_read_once(read), CaptureQueriesContext(connection) as queries:
        with stamps_read_once():  # open_escalation's own block, inside post_message's
            assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7
        TeamPolicy.of(team.pk)
    assert stamp_reads(queries) == []


def test_opening_escalations_reads_the_ladder_and_policy_once(team, conversation, agent):
    team_settings.ladder_set(team_id=team.pk, levels=[{"after_minutes": 10}])
    services.open_escalation(conversation=conversation, origin="tool_call", reason="first", severity="info")
    second = type(conversation).objects.create(agent=agent, external_id="chat-2", channel="chat")

    with CaptureQueriesContext(connection) as queries:
        services.open_escalation(conversation=second, origin="tool_call", reason="second", severity="info")

    assert config_reads(queries) == []
    assert LadderLevel.objects.filter(team=team).count() == 1


def test_a_target_moved_to_another_team_is_seen_by_both(team):
    other = Team.objects.create(name="Other", slug="other")
    set_high(team, 7)
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7
    assert targets_for(team_id=other.pk, urgency="high").source == "built-in"
    target = UrgencyTarget.objects.get(team=team, urgency="high")

    target.team = other
    team_settings.team_settings_save(saved=[target])

    assert targets_for(team_id=team.pk, urgency="high").source == "built-in"
    assert targets_for(team_id=other.pk, urgency="high").response_minutes == 7
