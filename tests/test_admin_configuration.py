"""The admin reaches configuration through the same services as the API (issue 16, item 3):
a rule saved or deleted on its admin page moves the matcher's version and the next post
uses the new rules; a ladder changed on the team page restarts climbs; a target or
policy changed in the admin is seen at once by a process that kept the old one. All
through the admin's real views; the admin modules call no invalidation of their own."""

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from agents.models import Agent, EscalationRule, Label
from agents.services import post_message
from escalations import services
from escalations.models import BusinessHours, Holiday, TeamPolicy
from escalations.targets import targets_for, working_hours_for
from supervisors.models import Role
from tests import factories
from tests.supervisors.conftest import team_page_form

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db, settings):
    settings.TEAM_CONFIG_KEPT = True  # as in production: kept until the team's stamp moves
    team = factories.make_team("Billing")
    olga = factories.make_user("olga", is_staff=True)  # the team's owner: rules, ladder, targets
    factories.add_member(olga, team, Role.OWNER)
    agent = factories.make_agent(team, "Billing Bot")
    rule = factories.make_rule(agent)  # phrases: ["refund"]
    return {"team": team, "olga": olga, "agent": agent, "rule": rule}


def rule_form(rule: EscalationRule, **changes) -> dict:
    data = {
        "agent": rule.agent_id,
        "name": rule.name,
        "enabled": "on",
        "order": "0",
        "kind": rule.kind,
        "applies_to": rule.applies_to,
        "phrases__phrases": "refund",
        "exception_phrases": "",
        "severity": rule.severity,
        "urgency": "",
        "topic": "",
        "area": "",
        "reason_template": rule.reason_template,
    }
    data.update(changes)
    return data


def post(agent: Agent, text: str):
    conversation = factories.make_conversation(agent)
    return post_message(conversation=conversation, role="user", content=text)


def test_a_rule_changed_in_the_admin_moves_the_version_and_the_next_post_uses_it(client, world):
    agent, rule = world["agent"], world["rule"]
    assert post(agent, "my lawyer will call").escalation is None  # the matcher is compiled and kept
    client.force_login(world["olga"])

    response = client.post(
        reverse("admin:agents_escalationrule_change", args=[rule.pk]),
        rule_form(rule, phrases__phrases="lawyer"),
    )

    assert response.status_code == 302
    assert Agent.objects.get(pk=agent.pk).rules_version == agent.rules_version + 1
    assert post(agent, "my lawyer will call").escalation is not None
    assert rule.history.first().history_change_reason.startswith("Admin: changed parameters")


def test_a_rule_deleted_in_the_admin_stops_firing_on_the_next_post(client, world):
    agent, rule = world["agent"], world["rule"]
    assert post(agent, "I want a refund").escalation is not None
    client.force_login(world["olga"])

    client.post(reverse("admin:agents_escalationrule_delete", args=[rule.pk]), {"post": "yes"})

    assert not EscalationRule.objects.filter(pk=rule.pk).exists()
    assert Agent.objects.get(pk=agent.pk).rules_version == agent.rules_version + 1
    assert post(agent, "I want a refund").escalation is None


def test_rules_deleted_from_the_list_move_the_version(client, world):
    agent = world["agent"]
    second = factories.make_rule(agent, name="Lawyers", parameters={"phrases": ["lawyer"]})
    client.force_login(world["olga"])

    client.post(
        reverse("admin:agents_escalationrule_changelist"),
        {"action": "delete_selected", "_selected_action": [world["rule"].pk, second.pk], "post": "yes"},
    )

    assert not agent.rules.exists()
    assert post(agent, "a refund, or my lawyer").escalation is None


def test_a_ladder_added_on_the_team_page_starts_the_climb_of_a_waiting_escalation(client, world):
    team = world["team"]
    with time_machine.travel(NOW, tick=False):
        waiting = services.open_escalation(
            conversation=factories.make_conversation(world["agent"]),
            origin="tool_call",
            reason="Refund over the limit",
            severity="critical",
        ).escalation
    assert waiting.next_level_at is None  # no ladder yet
    client.force_login(world["olga"])
    form = team_page_form(
        team,
        **{
            "ladder_levels-TOTAL_FORMS": "1",
            "ladder_levels-0-number": "1",
            "ladder_levels-0-after_minutes": "5",
            "ladder_levels-0-min_urgency": "low",
            "ladder_levels-0-notify_supervisors": "on",
        },
    )

    with time_machine.travel(NOW + dt.timedelta(minutes=30), tick=False):
        response = client.post(reverse("admin:supervisors_team_change", args=[team.pk]), form)

    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.next_level_at == NOW + dt.timedelta(minutes=35)


def test_a_target_changed_in_the_admin_is_seen_at_once(client, world):
    team = world["team"]
    assert targets_for(team_id=team.pk, urgency="high").source == "built-in"  # read and kept
    client.force_login(world["olga"])
    fields = {"resolution_minutes": "60", "claim_minutes": "15", "reminder_minutes": "10"}

    response = client.post(
        reverse("admin:escalations_urgencytarget_add"),
        {"team": team.pk, "urgency": "high", "response_minutes": "7", **fields},
    )

    assert response.status_code == 302
    assert targets_for(team_id=team.pk, urgency="high").response_minutes == 7


def test_business_hours_and_a_holiday_added_in_the_admin_are_seen_at_once(client, world):
    team, today = world["team"], dt.date(2026, 3, 2)
    assert working_hours_for(team_id=team.pk, today=today) is None  # round the clock, kept
    client.force_login(world["olga"])
    form = {
        "team": team.pk,
        "time_zone": "Europe/Paris",
        "periods-TOTAL_FORMS": "1",
        "periods-INITIAL_FORMS": "0",
        "periods-0-weekday": "0",
        "periods-0-opens": "09:00",
        "periods-0-closes": "17:00",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }

    response = client.post(reverse("admin:escalations_businesshours_add"), form)

    assert response.status_code == 302
    assert working_hours_for(team_id=team.pk, today=today) is not None
    hours = BusinessHours.objects.get(team=team)
    page = reverse("admin:escalations_businesshours_change", args=[hours.pk])
    period = hours.periods.get()
    form.update({
        "periods-INITIAL_FORMS": "1", "periods-0-id": period.pk, "periods-0-business_hours": hours.pk,
        "holidays-TOTAL_FORMS": "1", "holidays-0-date": "2026-12-25", "holidays-0-name": "Christmas",
    })  # fmt: skip
    assert client.post(page, form).status_code == 302
    assert Holiday.objects.filter(business_hours=hours).count() == 1
    kept = working_hours_for(team_id=team.pk, today=today)
    assert dt.date(2026, 12, 25) in kept.holidays


def test_a_policy_changed_on_the_team_page_is_seen_at_once(client, world):
    team = world["team"]
    assert TeamPolicy.of(team.pk).email_breaches is False  # the defaults, read and kept
    client.force_login(world["olga"])
    form = team_page_form(
        team,
        **{
            "policy-TOTAL_FORMS": "1",
            "policy-0-assignment": "none",
            "policy-0-load_limit": "0",
            "policy-0-email_new_critical": "on",
            "policy-0-email_breaches": "on",
        },
    )

    response = client.post(reverse("admin:supervisors_team_change", args=[team.pk]), form)

    assert response.status_code == 302
    assert TeamPolicy.of(team.pk).email_breaches is True


def test_a_label_in_use_is_not_deleted_in_the_admin_and_the_page_says_why(client, world):
    label = Label.objects.create(team=world["team"], kind="topic", name="refunds")
    agent = world["agent"]
    agent.default_topic = "refunds"
    agent.save()
    client.force_login(world["olga"])

    response = client.post(
        reverse("admin:agents_label_delete", args=[label.pk]), {"post": "yes"}, follow=True
    )

    assert Label.objects.filter(pk=label.pk).exists()
    assert "still used by agent billing-bot" in response.content.decode()


def test_the_admin_modules_call_no_invalidation_of_their_own():
    """The behaviour tests above prove the services do it; this keeps the hooks from coming back."""
    hooks = re.compile(r"\b(bump_rules_version|ladder_changed|team_settings_changed)\b")
    for module in ("agents/admin.py", "supervisors/admin.py", "escalations/admin.py", "webhooks/admin.py"):
        assert not hooks.search((ROOT / module).read_text()), module
