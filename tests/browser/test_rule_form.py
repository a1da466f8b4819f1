"""The admin's rule form in real Chromium: the kind switch shows only that kind's fields, a
missing currency is said next to its field, and Preview shows what the rule would fire on."""

from __future__ import annotations

from playwright.sync_api import expect

from agents.models import EscalationRule
from supervisors.models import Role
from tests import factories
from tests.browser.conftest import screenshot


def test_the_kind_switch_the_inline_error_and_the_preview(open_page, agent, team):
    carla = factories.make_user("carla", is_staff=True)
    factories.add_member(carla, team, Role.CONTRIBUTOR)

    page = open_page(carla, "/admin/agents/escalationrule/add/")
    amount, phrases = page.locator("fieldset.rule-kind-amount"), page.locator("fieldset.rule-kind-phrases")
    expect(amount).to_be_hidden()  # no kind chosen yet: no kind's fields
    expect(phrases).to_be_hidden()

    page.select_option("#id_agent", str(agent.pk))
    page.fill("#id_name", "Refunds over $100")
    page.select_option("#id_kind", "amount")
    expect(amount).to_be_visible()
    expect(phrases).to_be_hidden()
    expect(page.locator("fieldset.rule-kind-sentiment")).to_be_hidden()
    page.fill("#id_amount__phrases", "refund\nmoney back")
    page.fill("#id_amount__limit", "100")
    page.fill("#id_reason_template", "Refund of {amount}")
    page.fill("#id_preview_conversation", "user: hello\nuser: I want a refund of $150 please")
    page.get_by_role("button", name="Preview").click()

    # The form comes back with the message next to the currency, the amount fields still shown.
    error = page.locator("#id_amount__currency_error")
    expect(error).to_contain_text('"currency" is required')
    expect(amount).to_be_visible()
    expect(phrases).to_be_hidden()
    expect(page.locator("#preview-result")).to_have_count(0)
    screenshot(page, "rule-form-currency-error")

    page.select_option("#id_amount__currency", "USD")
    page.get_by_role("button", name="Preview").click()

    result = page.locator("#preview-result")
    expect(result).to_contain_text("This would fire on message 2")
    expect(result).to_contain_text("$150")
    expect(page.locator("#id_amount__currency")).to_have_value("USD")
    assert not EscalationRule.objects.exists()  # a preview saves nothing
    screenshot(page, "rule-form-preview")

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    rule = EscalationRule.objects.get()
    assert rule.parameters == {"phrases": ["refund", "money back"], "limit": 100, "currency": "USD"}


def test_each_rule_on_the_agents_page_shows_its_own_kinds_fields(open_page, agent, team):
    carla = factories.make_user("carla", is_staff=True)
    factories.add_member(carla, team, Role.CONTRIBUTOR)
    factories.make_rule(agent, name="Angry", kind="sentiment", parameters={"threshold": 0.7})

    page = open_page(carla, f"/admin/agents/agent/{agent.pk}/change/")
    saved = page.locator("#rules-0")
    expect(saved.locator("fieldset.rule-kind-sentiment")).to_be_visible()
    expect(saved.locator("fieldset.rule-kind-phrases")).to_be_hidden()
    expect(saved.locator("#id_rules-0-sentiment__threshold")).to_have_value("0.7")

    page.locator("#rules-group .add-row a").click()
    added = page.locator("#rules-1")
    expect(added.locator("fieldset.rule-kind-phrases")).to_be_hidden()
    added.locator("#id_rules-1-kind").select_option("phrases")

    expect(added.locator("fieldset.rule-kind-phrases")).to_be_visible()
    expect(added.locator("fieldset.rule-kind-sentiment")).to_be_hidden()
    expect(saved.locator("fieldset.rule-kind-sentiment")).to_be_visible()  # the other row is untouched
    screenshot(page, "rule-form-inline")
