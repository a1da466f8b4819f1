"""Each escalation's due times come from its team's targets (or the default) and working hours."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from escalations.models import BusinessHours, Holiday, UrgencyTarget, WorkingPeriod
from escalations.targets import targets_for
from supervisors.models import Role
from tests import factories

OPENED = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)  # a Friday, 16:00 in Paris


def target(team, urgency, response, resolution, claim=30, reminder=15):
    return UrgencyTarget.objects.create(
        team=team,
        urgency=urgency,
        response_minutes=response,
        resolution_minutes=resolution,
        claim_minutes=claim,
        reminder_minutes=reminder,
    )


@time_machine.travel(OPENED, tick=False)
def test_without_rows_the_built_in_targets_apply(conversation):
    escalation = factories.open_escalation(conversation, severity="critical")

    assert escalation.urgency == "high"
    assert escalation.response_due_at == OPENED + dt.timedelta(minutes=15)
    assert escalation.resolution_due_at == OPENED + dt.timedelta(minutes=60)


@time_machine.travel(OPENED, tick=False)
def test_the_global_default_row_replaces_the_built_in_targets(conversation):
    target(None, "medium", 20, 100)

    escalation = factories.open_escalation(conversation, severity="warning")

    assert escalation.urgency == "medium"
    assert escalation.response_due_at == OPENED + dt.timedelta(minutes=20)
    assert escalation.resolution_due_at == OPENED + dt.timedelta(minutes=100)


@time_machine.travel(OPENED, tick=False)
def test_a_teams_own_row_wins_over_the_default_and_only_for_that_team(team, conversation):
    other = factories.make_team("Legal")
    target(None, "low", 300, 2000)
    target(team, "low", 5, 50)
    target(other, "low", 7, 70)

    escalation = factories.open_escalation(conversation, severity="info")

    assert escalation.response_due_at == OPENED + dt.timedelta(minutes=5)
    assert escalation.resolution_due_at == OPENED + dt.timedelta(minutes=50)
    assert targets_for(team_id=factories.make_team("Sales").pk, urgency="low").response_minutes == 300


@time_machine.travel(OPENED, tick=False)
def test_an_urgency_given_by_the_caller_picks_its_targets_over_the_severitys(conversation):
    escalation = factories.open_escalation(conversation, severity="info", urgency="high")

    assert escalation.urgency == "high"
    assert escalation.response_due_at == OPENED + dt.timedelta(minutes=15)


@time_machine.travel(OPENED, tick=False)
def test_business_hours_push_the_due_times_past_the_weekend_and_a_holiday(team, conversation):
    hours = BusinessHours.objects.create(team=team, time_zone="Europe/Paris")
    for weekday in range(5):
        WorkingPeriod.objects.create(business_hours=hours, weekday=weekday, opens="09:00", closes="17:00")
    Holiday.objects.create(business_hours=hours, date=dt.date(2026, 11, 30), name="Team day")

    escalation = factories.open_escalation(conversation, severity="critical")

    # Friday 16:00 Paris + 15 working minutes: still Friday.
    assert escalation.response_due_at == OPENED + dt.timedelta(minutes=15)
    # + 60: 60 minutes left on Friday, so exactly at closing.
    assert escalation.resolution_due_at == OPENED + dt.timedelta(minutes=60)
    later = factories.open_escalation(factories.make_conversation(conversation.agent), severity="warning")
    # + 60 of 240 on Friday; Monday is the team's holiday; 180 from Tuesday 09:00 Paris -> 12:00 Paris.
    assert later.resolution_due_at == dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)


# --- The admin: owners edit their team's targets and hours, superusers the defaults ------


@pytest.fixture
def staff(team):
    owner = factories.make_user("olga", is_staff=True)
    factories.add_member(owner, team, Role.OWNER)
    contributor = factories.make_user("carla", is_staff=True)
    factories.add_member(contributor, team, Role.CONTRIBUTOR)
    return {"owner": owner, "contributor": contributor, "root": factories.make_user("root", superuser=True)}


def target_form(team_id, urgency="high", response=10):
    return {
        "team": team_id or "",
        "urgency": urgency,
        "response_minutes": response,
        "resolution_minutes": 45,
        "claim_minutes": 20,
        "reminder_minutes": 5,
    }


def test_an_owner_sets_their_teams_target_in_the_admin(client, team, staff):
    client.force_login(staff["owner"])

    response = client.post(reverse("admin:escalations_urgencytarget_add"), target_form(team.pk))

    assert response.status_code == 302, response.content
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 10


def test_an_owner_cannot_set_the_global_default(client, staff):
    client.force_login(staff["owner"])

    response = client.post(reverse("admin:escalations_urgencytarget_add"), target_form(None))

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not UrgencyTarget.objects.exists()


def test_a_superuser_sets_the_global_default(client, staff, team):
    client.force_login(staff["root"])

    response = client.post(reverse("admin:escalations_urgencytarget_add"), target_form(None, "low", 99))

    assert response.status_code == 302
    assert targets_for(team_id=team.pk, urgency="low").source == "default"


def test_a_contributor_sees_the_targets_but_cannot_change_them(client, team, staff):
    row = target(team, "high", 10, 45)
    client.force_login(staff["contributor"])

    assert client.get(reverse("admin:escalations_urgencytarget_changelist")).status_code == 200
    response = client.post(
        reverse("admin:escalations_urgencytarget_change", args=[row.pk]), target_form(team.pk)
    )

    assert response.status_code == 403
    row.refresh_from_db()
    assert row.response_minutes == 10


def test_business_hours_refuse_an_unknown_time_zone_and_a_period_that_ends_before_it_starts(
    client, team, staff
):
    client.force_login(staff["owner"])
    form = {
        "team": team.pk,
        "time_zone": "Mars/Olympus",
        "periods-TOTAL_FORMS": "1",
        "periods-INITIAL_FORMS": "0",
        "periods-0-weekday": "0",
        "periods-0-opens": "17:00",
        "periods-0-closes": "09:00",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:escalations_businesshours_add"), form)

    page = response.content.decode()
    assert response.status_code == 200
    assert "is not a time zone" in page
    assert "Closes must be after opens" in page
    assert not BusinessHours.objects.exists()
