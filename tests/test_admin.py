"""The admin, driven through its real views: scoping by team role, audit reasons, service-backed actions."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from agents.models import Agent, AgentApiKey, EscalationRule, Label
from escalations import services
from escalations.models import Escalation, Event, Status
from supervisors.models import Role
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db):
    support = factories.make_team("Support")
    billing = factories.make_team("Billing")
    root = factories.make_user("root", superuser=True)
    carla = factories.make_user("carla", is_staff=True)  # contributor of Support only
    factories.add_member(carla, support, Role.CONTRIBUTOR)
    sid = factories.make_user("sid", is_staff=True)  # supervisor of Support
    factories.add_member(sid, support, Role.SUPERVISOR)
    support_bot = factories.make_agent(support, "Support Bot")
    billing_bot = factories.make_agent(billing, "Billing Bot")
    factories.make_rule(support_bot)
    escalation = factories.open_escalation(factories.make_conversation(support_bot))
    return {
        "support": support,
        "billing": billing,
        "root": root,
        "carla": carla,
        "sid": sid,
        "support_bot": support_bot,
        "billing_bot": billing_bot,
        "escalation": escalation,
    }


def agent_form(agent: Agent, **changes) -> dict:
    data = {
        "team": agent.team_id,
        "name": agent.name,
        "slug": agent.slug,
        "description": agent.description,
        "escalation_enabled": "on",
        "default_severity": agent.default_severity,
        "default_urgency": agent.default_urgency,
        "default_topic": agent.default_topic,
        "default_area": agent.default_area,
        "default_assignee": "",
        "timeout_policy": agent.timeout_policy,
        "timeout_guidance": agent.timeout_guidance,
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rule_tests-TOTAL_FORMS": "0",
        "rule_tests-INITIAL_FORMS": "0",
        "rule_tests-MIN_NUM_FORMS": "0",
        "rule_tests-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def new_rule_form(**changes) -> dict:
    data = {
        "rules-TOTAL_FORMS": "1",
        "rules-0-name": "Legal threats",
        "rules-0-enabled": "on",
        "rules-0-order": "0",
        "rules-0-kind": "regex",
        "rules-0-applies_to": "user",
        "rules-0-regex__pattern": "\\b(sue|lawyer)\\b",
        "rules-0-exception_phrases": "",
        "rules-0-severity": "critical",
        "rules-0-urgency": "",
        "rules-0-topic": "",
        "rules-0-area": "",
        "rules-0-reason_template": "Legal threat",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "url",
    [
        "admin:index",
        "admin:supervisors_team_changelist",
        "admin:supervisors_membership_changelist",
        "admin:agents_agent_changelist",
        "admin:agents_agent_add",
        "admin:agents_escalationrule_changelist",
        "admin:agents_conversation_changelist",
        "admin:escalations_escalation_changelist",
        "admin:escalations_event_changelist",
        "admin:agents_label_changelist",
        "admin:agents_label_add",
    ],
)
def test_every_admin_page_renders_for_a_superuser(client, world, url):
    client.force_login(world["root"])

    assert client.get(reverse(url)).status_code == 200


def test_detail_and_history_pages_render(client, world):
    client.force_login(world["root"])
    escalation = world["escalation"]

    for url in [
        reverse("admin:escalations_escalation_change", args=[escalation.pk]),
        reverse("admin:escalations_escalation_history", args=[escalation.pk]),
        reverse("admin:agents_agent_change", args=[world["support_bot"].pk]),
        reverse("admin:agents_conversation_change", args=[escalation.conversation_id]),
    ]:
        assert client.get(url).status_code == 200, url


def test_a_contributor_sees_and_edits_only_their_teams_agents(client, world):
    client.force_login(world["carla"])

    listing = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert "Support Bot" in listing
    assert "Billing Bot" not in listing
    foreign = reverse("admin:agents_agent_change", args=[world["billing_bot"].pk])
    assert client.get(foreign).status_code in (302, 403, 404)
    assert client.post(foreign, agent_form(world["billing_bot"], name="Hijacked")).status_code in (
        302,
        403,
        404,
    )
    assert Agent.objects.get(pk=world["billing_bot"].pk).name == "Billing Bot"


def test_a_contributor_cannot_move_an_agent_into_another_team(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]

    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]),
        agent_form(bot, team=world["billing"].pk),
    )

    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert Agent.objects.get(pk=bot.pk).team == world["support"]


def test_an_admin_edit_is_audited_with_user_and_reason(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]

    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]),
        agent_form(bot, description="Answers support chats; hands legal threats to a human."),
    )

    assert response.status_code == 302
    assert Agent.objects.get(pk=bot.pk).rules_version == bot.rules_version  # no rule changed
    latest = bot.history.first()
    assert latest.history_user == world["carla"]
    assert latest.history_change_reason == "Admin: changed description"
    assert latest.description.startswith("Answers support chats")


def test_a_rule_with_an_invalid_pattern_is_refused_with_the_error(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]
    rules_before = EscalationRule.objects.count()

    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]),
        agent_form(bot, **new_rule_form(**{"rules-0-regex__pattern": "(unclosed"})),
    )

    assert response.status_code == 200
    assert "not a valid regular expression" in response.content.decode()
    assert EscalationRule.objects.count() == rules_before


def test_a_valid_rule_is_saved_inline_and_audited(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]

    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]), agent_form(bot, **new_rule_form())
    )

    assert response.status_code == 302
    assert Agent.objects.get(pk=bot.pk).rules_version == bot.rules_version + 1
    rule = EscalationRule.objects.get(name="Legal threats")
    assert rule.parameters == {"pattern": r"\b(sue|lawyer)\b"}
    assert rule.history.first().history_user == world["carla"]


def test_a_supervisor_cannot_configure_agents(client, world):
    client.force_login(world["sid"])

    assert client.get(reverse("admin:agents_agent_changelist")).status_code == 403
    assert client.get(reverse("admin:escalations_escalation_changelist")).status_code == 200


def run_action(client, escalation, action, note=""):
    return client.post(
        reverse("admin:escalations_escalation_changelist"),
        {"action": action, "_selected_action": [escalation.pk], "note": note},
        follow=True,
    )


def test_admin_actions_go_through_the_services(client, world):
    client.force_login(world["sid"])
    escalation = world["escalation"]

    run_action(client, escalation, "claim", note="looking")
    escalation.refresh_from_db()
    assert (escalation.status, escalation.claimed_by) == (Status.CLAIMED, world["sid"])
    assert escalation.history.first().history_change_reason == "looking"

    page = run_action(client, escalation, "respond", note="Offer a voucher.").content.decode()
    escalation.refresh_from_db()
    assert escalation.status == Status.RESOLVED
    assert escalation.guidance == "Offer a voucher."
    assert f"Responded to #{escalation.pk}" in page
    assert list(Event.objects.filter(escalation=escalation).values_list("type", flat=True)) == [
        "escalation.created",
        "escalation.claimed",
        "escalation.resolved",
    ]


def test_respond_without_guidance_says_so_and_changes_nothing(client, world):
    client.force_login(world["sid"])
    escalation = world["escalation"]

    page = run_action(client, escalation, "respond", note="").content.decode()

    assert "Write the guidance the agent should continue with." in page
    assert Escalation.objects.get(pk=escalation.pk).status == Status.OPEN


def test_an_action_on_a_closed_escalation_names_who_closed_it(client, world):
    escalation = world["escalation"]
    services.dismiss(escalation_id=escalation.pk, user=world["root"], note="noise")
    client.force_login(world["sid"])

    page = run_action(client, escalation, "claim").content.decode()

    assert "already dismissed by root at" in page


def test_the_escalation_list_shows_what_the_viewer_may_do_now(client, world):
    escalation = world["escalation"]
    services.claim(escalation_id=escalation.pk, user=world["root"])
    client.force_login(world["sid"])

    page = client.get(reverse("admin:escalations_escalation_changelist")).content.decode()

    # Claimed by someone else: a supervisor may not release, extend or answer it (an owner could answer).
    assert '<td class="field-allowed_now">—</td>' in page
    services.release(escalation_id=escalation.pk, user=world["root"])
    page = client.get(reverse("admin:escalations_escalation_changelist")).content.decode()
    assert '<td class="field-allowed_now">claim, respond, dismiss</td>' in page


def test_escalation_rows_cannot_be_edited_or_deleted_in_the_admin(client, world):
    client.force_login(world["root"])
    escalation = world["escalation"]

    response = client.post(
        reverse("admin:escalations_escalation_change", args=[escalation.pk]), {"status": "resolved"}
    )
    assert response.status_code == 403
    assert (
        client.post(
            reverse("admin:escalations_escalation_delete", args=[escalation.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Escalation.objects.get(pk=escalation.pk).status == Status.OPEN


def test_an_owner_manages_the_members_of_their_team_only(client, world):
    owner = factories.make_user("olga", is_staff=True)
    factories.add_member(owner, world["support"], Role.OWNER)
    client.force_login(owner)

    listing = client.get(reverse("admin:supervisors_team_changelist")).content.decode()
    assert "Support" in listing and "Billing" not in listing
    support_page = reverse("admin:supervisors_team_change", args=[world["support"].pk])
    assert "memberships-TOTAL_FORMS" in client.get(support_page).content.decode()
    billing_page = reverse("admin:supervisors_team_change", args=[world["billing"].pk])
    assert client.get(billing_page).status_code in (302, 403, 404)
    assert client.get(reverse("admin:supervisors_team_add")).status_code == 403


def test_contributors_and_supervisors_cannot_manage_teams(client, world):
    for user in (world["carla"], world["sid"]):
        client.force_login(user)
        assert client.get(reverse("admin:supervisors_team_changelist")).status_code == 403


def test_editing_or_deleting_a_rule_on_its_own_page_bumps_the_agents_rules_version(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]
    rule = bot.rules.get()

    client.post(
        reverse("admin:agents_escalationrule_change", args=[rule.pk]),
        {
            "agent": bot.pk,
            "name": "Refunds",
            "enabled": "on",
            "order": "0",
            "kind": "phrases",
            "applies_to": "user",
            "phrases__phrases": "refund\nmoney back",
            "exception_phrases": "",
            "severity": "warning",
            "urgency": "",
            "topic": "",
            "area": "",
            "reason_template": "Customer asked for a refund",
        },
    )
    assert Agent.objects.get(pk=bot.pk).rules_version == bot.rules_version + 1
    client.post(reverse("admin:agents_escalationrule_delete", args=[rule.pk]), {"post": "yes"})
    assert Agent.objects.get(pk=bot.pk).rules_version == bot.rules_version + 2


def test_a_rule_test_is_added_on_the_agents_page(client, world):
    client.force_login(world["carla"])
    bot = world["support_bot"]
    rule = bot.rules.get()

    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]),
        agent_form(
            bot,
            **{
                "rule_tests-TOTAL_FORMS": "1",
                "rule_tests-0-name": "Refund request escalates",
                "rule_tests-0-should_escalate": "on",
                "rule_tests-0-expected_rule": rule.pk,
                "rule_tests-0-messages": "user: I want a refund",
            },
        ),
    )

    assert response.status_code == 302
    (case,) = bot.rule_tests.all()
    assert (case.expected_rule, case.messages[0]["content"]) == (rule, "I want a refund")


def test_a_contributor_manages_only_their_teams_labels(client, world):
    client.force_login(world["carla"])
    response = client.post(
        reverse("admin:agents_label_add"),
        {"team": world["billing"].pk, "kind": "topic", "name": "Refunds", "description": ""},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post(
        reverse("admin:agents_label_add"),
        {"team": world["support"].pk, "kind": "topic", "name": "Orders", "description": ""},
    )
    assert response.status_code == 302
    assert list(Label.objects.values_list("team__name", "name")) == [("Support", "Orders")]


def test_agent_choices_are_limited_to_the_teams_a_contributor_may_edit(client, world):
    client.force_login(world["carla"])
    foreign_agent = world["billing_bot"].pk

    key_page = client.post(reverse("admin:agents_agentapikey_add"), {"agent": foreign_agent, "name": "x"})
    rule_page = client.post(
        reverse("admin:agents_escalationrule_add"),
        {
            "agent": foreign_agent, "name": "r", "enabled": "on", "order": "0", "kind": "phrases",
            "applies_to": "user", "phrases__phrases": "refund", "exception_phrases": "",
            "severity": "warning", "urgency": "", "topic": "", "area": "", "reason_template": "why",
        },
    )  # fmt: skip

    for page in (key_page, rule_page):
        assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert not AgentApiKey.objects.exists()
    assert not EscalationRule.objects.filter(agent_id=foreign_agent).exists()
    own = client.get(reverse("admin:agents_agentapikey_add")).content.decode()
    assert "Support Bot" in own and "Billing Bot" not in own


def test_an_owner_sets_their_teams_policy_and_ladder_on_the_team_page(client, world):
    support = world["support"]
    owner = factories.make_user("olga", is_staff=True)
    membership = factories.add_member(owner, support, Role.OWNER)
    client.force_login(owner)
    page = reverse("admin:supervisors_team_change", args=[support.pk])
    form = {
        "name": "Support",
        "slug": "support",
        "description": "",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk,
        "memberships-0-team": support.pk,
        "memberships-0-user": owner.pk,
        "memberships-0-role": "owner",
        "memberships-0-on_duty": "on",
        "policy-TOTAL_FORMS": "1",
        "policy-INITIAL_FORMS": "0",
        "policy-0-assignment": "round_robin",
        "policy-0-load_limit": "3",
        "ladder_levels-TOTAL_FORMS": "2",
        "ladder_levels-INITIAL_FORMS": "0",
        "ladder_levels-0-number": "1",
        "ladder_levels-0-after_minutes": "5",
        "ladder_levels-0-min_urgency": "low",
        "ladder_levels-0-notify_supervisors": "on",
        "ladder_levels-1-number": "2",
        "ladder_levels-1-after_minutes": "0",
        "ladder_levels-1-min_urgency": "medium",
        "ladder_levels-1-notify_owners": "on",
        "ladder_levels-1-notify_users": [world["sid"].pk],
    }

    refused = client.post(page, form)
    assert refused.status_code == 200
    assert "Levels after the first wait at least a minute." in refused.content.decode()
    assert not support.ladder_levels.exists()

    waiting = world["escalation"]  # open since before the team had a ladder: not climbing
    assert waiting.next_level_at is None

    with time_machine.travel(NOW, tick=False):
        saved = client.post(page, {**form, "ladder_levels-1-after_minutes": "10"})
    assert saved.status_code == 302, saved.content.decode()
    waiting.refresh_from_db()
    assert waiting.next_level_at == NOW + dt.timedelta(minutes=5)  # level 1, counted from the change
    support.refresh_from_db()
    assert (support.policy.assignment, support.policy.load_limit) == ("round_robin", 3)
    first, second = support.ladder_levels.all()
    assert (first.number, first.after_minutes, first.notify_supervisors) == (1, 5, True)
    assert (second.min_urgency, second.notify_owners, list(second.notify_users.all())) == (
        "medium",
        True,
        [world["sid"]],
    )
