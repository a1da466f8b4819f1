"""Learning from supervisors' answers in real Chromium: a contributor accepts a suggestion with
one click on the console's rule page, and the rule stops firing on that kind of message."""

from __future__ import annotations

from playwright.sync_api import expect

from agents.models import Conversation, EscalationRule
from agents.services import evaluate_conversation, post_message
from escalations.services import mark_needed
from supervisors.models import Role
from tests import factories
from tests.browser.conftest import screenshot


def test_a_contributor_accepts_an_exception_with_one_click(open_page, live_server_url, agent, ana, cora):
    rule = factories.make_rule(
        agent, name="Money back", parameters={"phrases": ["money back"]}, reason_template="Money back"
    )
    for external_id, text, needed in [
        ("needed", "I want my money back", True),
        ("policy", "What is your money back policy?", False),
    ]:
        conversation = Conversation.objects.create(agent=agent, external_id=external_id)
        posted = post_message(conversation=conversation, role="user", content=text)
        mark_needed(escalation_id=posted.escalation.pk, user=ana, needed=needed)

    page = open_page(cora, f"/console/rules/{rule.pk}/")
    row = page.locator("#suggestions tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("back policy")
    expect(row).to_contain_text("What is your money back policy?")
    screenshot(page, "rule-learning")

    row.get_by_role("button", name="Accept").click()

    expect(page.locator(".flash-success")).to_contain_text("Added the exception phrase “back policy”")
    expect(page.locator("#suggestions")).to_have_count(0)  # nothing else waits
    expect(page.locator("#answered")).to_contain_text("Accepted by cora")
    assert EscalationRule.objects.get(pk=rule.pk).exception_phrases == ["back policy"]
    similar = [{"role": "user", "content": "Tell me about the money back policy"}]
    assert evaluate_conversation(agent=agent, messages=similar).hits == []
    screenshot(page, "rule-learning-accepted")


def test_a_staff_contributor_accepts_on_the_rules_admin_page_and_comes_back(open_page, agent, team, ana):
    carla = factories.make_user("carla", is_staff=True)
    factories.add_member(carla, team, Role.CONTRIBUTOR)
    rule = factories.make_rule(agent, name="Money back", parameters={"phrases": ["money back"]})
    conversation = Conversation.objects.create(agent=agent, external_id="policy")
    posted = post_message(conversation=conversation, role="user", content="What is your money back policy?")
    mark_needed(escalation_id=posted.escalation.pk, user=ana, needed=False)
    admin_page = f"/admin/agents/escalationrule/{rule.pk}/change/"

    page = open_page(carla, admin_page)
    screenshot(page, "rule-learning-admin")
    page.locator("#rule-suggestions").get_by_role("button", name="Accept").click()

    page.wait_for_url(f"**{admin_page}")
    expect(page.locator(".messagelist")).to_contain_text("Added the exception phrase “back policy”")
    expect(page.locator("#rule-suggestions")).to_have_count(0)
    # The admin's own form shows the new value: a save from this page keeps it.
    expect(page.locator("#id_exception_phrases")).to_have_value("back policy")
    assert EscalationRule.objects.get(pk=rule.pk).exception_phrases == ["back policy"]


def test_a_supervisor_sees_no_buttons(open_page, live_server_url, agent, ana):
    rule = factories.make_rule(agent, name="Money back", parameters={"phrases": ["money back"]})
    conversation = Conversation.objects.create(agent=agent, external_id="policy")
    posted = post_message(conversation=conversation, role="user", content="What is your money back policy?")
    mark_needed(escalation_id=posted.escalation.pk, user=ana, needed=False)

    page = open_page(ana, f"/console/rules/{rule.pk}/")

    expect(page.locator("#suggestions tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    expect(page.locator("#rule-learning")).to_contain_text("needs a contributor or owner of Billing")
