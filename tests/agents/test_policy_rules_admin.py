"""Policy rules in the admin: the agent page's inline form refuses what the API refuses."""

from django.urls import reverse

from agents.models import EscalationRule
from tests.test_admin import agent_form, new_rule_form, world  # noqa: F401 (world: a fixture)

KEY = "sk-admin-test-KEY-5150"


def policy_rule_form(**changes) -> dict:
    return new_rule_form(
        **{
            "rules-0-name": "Refund disputes",
            "rules-0-kind": "policy",
            "rules-0-policy__policy": "Escalate refund disputes.",
            "rules-0-policy__last_n": "4",
            "rules-0-reason_template": "{verdict}",
            **changes,
        }
    )


def test_without_a_judge_an_enabled_policy_rule_is_refused_on_enabled(client, world, settings):  # noqa: F811
    settings.POLICY_JUDGE_BASE_URL = ""
    client.force_login(world["carla"])
    bot = world["support_bot"]
    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]), agent_form(bot, **policy_rule_form())
    )
    assert response.status_code == 200
    assert "No policy judge is configured on this server" in response.content.decode()
    assert not EscalationRule.objects.filter(kind="policy").exists()


def test_with_a_judge_it_saves_and_no_page_shows_the_key(client, world, settings):  # noqa: F811
    settings.POLICY_JUDGE_BASE_URL, settings.POLICY_JUDGE_MODEL = "http://127.0.0.1:9/v1", "judge"
    settings.POLICY_JUDGE_API_KEY = KEY
    client.force_login(world["carla"])
    bot = world["support_bot"]
    response = client.post(
        reverse("admin:agents_agent_change", args=[bot.pk]), agent_form(bot, **policy_rule_form())
    )
    assert response.status_code == 302
    rule = EscalationRule.objects.get(kind="policy")
    assert rule.parameters == {"policy": "Escalate refund disputes.", "last_n": 4}
    pages = [
        client.get(reverse("admin:agents_agent_change", args=[bot.pk])),
        client.get(reverse("admin:agents_escalationrule_change", args=[rule.pk])),
        client.get(reverse("admin:agents_escalationrule_what_if", args=[rule.pk])),
    ]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert "does not replay policy rules" in pages[2].content.decode()
    assert not any(KEY in page.content.decode() for page in pages)
