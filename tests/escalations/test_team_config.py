"""A team's configuration is kept a few seconds per process, and forgotten on any change here."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations import services, team_config
from escalations.models import LadderLevel, TeamPolicy, UrgencyTarget
from escalations.targets import targets_for


@pytest.fixture(autouse=True)
def kept(settings):
    settings.TEAM_CONFIG_SECONDS = 60


def test_a_teams_targets_are_read_once_then_kept(team):
    UrgencyTarget.objects.create(
        team=team,
        urgency="high",
        response_minutes=7,
        resolution_minutes=30,
        claim_minutes=15,
        reminder_minutes=15,
    )
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7

    with CaptureQueriesContext(connection) as queries:
        assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7
    assert queries.captured_queries == []


def test_a_save_or_delete_here_is_seen_at_once(team):
    target = UrgencyTarget.objects.create(
        team=team,
        urgency="high",
        response_minutes=7,
        resolution_minutes=30,
        claim_minutes=15,
        reminder_minutes=15,
    )
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7

    target.response_minutes = 9
    target.save()
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 9

    target.delete()
    assert targets_for(team_id=team.pk, urgency="high").source == "built-in"


def test_a_change_made_elsewhere_is_seen_once_the_time_is_up(team, monkeypatch):
    TeamPolicy.objects.create(team=team, email_breaches=False)
    assert TeamPolicy.of(team.pk).email_breaches is False
    TeamPolicy.objects.filter(team=team).update(email_breaches=True)  # no signal here: as another process

    assert TeamPolicy.of(team.pk).email_breaches is False  # kept
    started = time.monotonic()
    monkeypatch.setattr(team_config.time, "monotonic", lambda: started + 61)
    assert TeamPolicy.of(team.pk).email_breaches is True


def test_opening_escalations_reads_the_ladder_and_policy_once(team, conversation, agent):
    LadderLevel.objects.create(team=team, number=1, after_minutes=10)
    services.open_escalation(conversation=conversation, origin="tool_call", reason="first", severity="info")
    second = type(conversation).objects.create(agent=agent, external_id="chat-2", channel="chat")

    with CaptureQueriesContext(connection) as queries:
        services.open_escalation(conversation=second, origin="tool_call", reason="second", severity="info")

    config_tables = ("escalations_urgencytarget", "escalations_businesshours", "escalations_teampolicy",
                     "escalations_ladderlevel")  # fmt: skip
    assert [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in config_tables)] == []
