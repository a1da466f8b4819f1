"""What a supervisor sees, in real Chromium: a header that fits from 1440 px down to a phone, the
coverage state following presence live, the thread's card showing how an escalation ended, and
the queue's fast paths (Claim buttons, j/k/Enter/c/? keys, the notify-only mark).

Screenshots land in tests/browser/screenshots/ (header-1440, header-1024, header-390, ...).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from escalations import services
from escalations.models import Status
from supervisors.models import Membership, Role
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_console import wait_until_live

SELECTED = re.compile(r"\bselected\b")
# The window widths the header must work at: a laptop, a small laptop or tablet, a phone.
WIDTHS = [1440, 1024, 390]


def fits_in_the_window(page, selector: str) -> bool:
    """Every element matching selector is drawn and inside the window horizontally."""
    return page.evaluate(
        """selector => Array.from(document.querySelectorAll(selector)).every(node => {
            const box = node.getBoundingClientRect();
            return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth;
        })""",
        selector,
    )


@pytest.fixture
def busy_supervisor(ana, team, agent):
    """ana in three teams with long names, each with an agent that can escalate, and some work."""
    for name in ["Customer Support", "Payments & Refunds Europe"]:
        other = factories.make_team(name)
        factories.add_member(ana, other, Role.SUPERVISOR)
        factories.make_agent(other, f"{name} Bot")
    for severity in ["critical", "warning", "info"]:
        factories.open_escalation(
            factories.make_conversation(agent), severity=severity, reason=f"A {severity} refund question"
        )
    return ana


@pytest.mark.parametrize("width", WIDTHS)
def test_the_header_fits_the_window_from_a_laptop_to_a_phone(open_page, busy_supervisor, width):
    page = open_page(busy_supervisor, "/console/")
    page.set_viewport_size({"width": width, "height": 800})
    wait_until_live(page)
    # Whatever the browser's notification permission, the button is drawn where it would be.
    page.evaluate("document.getElementById('enable-notifications').hidden = false")

    # Nothing pushes the page wider than the window (the queue scrolls inside its own box).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Every team's whole name, with its count, on the screen: no "Customer Suppor…".
    teams = page.locator(".team-presence .team")
    expect(teams).to_have_count(3)
    for name in ["Billing", "Customer Support", "Payments & Refunds Europe"]:
        expect(teams.filter(has_text=name)).to_contain_text(f"{name} 1 online")
    status_row = ".team-presence .team, #enable-notifications, .queue-widget, .duty-toggle"
    assert fits_in_the_window(page, status_row)
    # "Notify me of critical" on one line, not three.
    notify = page.locator("#enable-notifications").bounding_box()
    assert notify["height"] < 2 * 15, notify

    menu_button = page.get_by_role("button", name="Menu")
    if width >= 1024:
        expect(menu_button).to_be_hidden()
    else:
        # A phone: the links fold into a menu that opens on a tap.
        expect(menu_button).to_be_visible()
        expect(page.locator("header .who")).to_be_hidden()
        screenshot(page, f"header-{width}-menu-closed")
        menu_button.click()
        expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("header .who")).to_have_text("ana")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("link", name="Audit")).to_be_visible()
    assert fits_in_the_window(page, "header .who, header form[action$='/logout/'] button, .site-menu a")
    screenshot(page, f"header-{width}")


def test_uncovered_clears_and_returns_as_people_on_duty_come_and_go(open_page, ana, bob, team, agent):
    """bob alone online but off duty: "uncovered"; ana (on duty) opens the console: covered; she
    closes it: uncovered again. All on bob's open page, without a reload."""
    Membership.objects.filter(user=bob, team=team).update(on_duty=False)
    uncovered = f'[data-uncovered-team="{team.pk}"]'
    bobs = open_page(bob, "/console/")
    wait_until_live(bobs)
    bobs.evaluate("window.__sameDocument = true")
    expect(bobs.locator(uncovered)).to_be_visible()

    anas = open_page(ana, "/console/")
    wait_until_live(anas)

    # Live: the presence update redraws the coverage state along with the count.
    expect(bobs.locator(f'[data-presence-team="{team.pk}"]')).to_have_text("2", timeout=10000)
    expect(bobs.locator(uncovered)).to_be_hidden()
    expect(anas.locator(uncovered)).to_be_hidden()
    screenshot(bobs, "header-covered")

    anas.close()
    expect(bobs.locator(f'[data-presence-team="{team.pk}"]')).to_have_text("1", timeout=10000)
    expect(bobs.locator(uncovered)).to_be_visible()
    assert bobs.evaluate("window.__sameDocument") is True


def test_the_threads_card_shows_the_outcome_live_and_after_a_reload(open_page, ana, bob, escalation):
    page = open_page(ana, f"/console/escalations/{escalation.pk}/")
    wait_until_live(page)
    card = page.locator("#escalation-card")
    expect(card).to_contain_text("Agent needs help")

    services.respond(escalation_id=escalation.pk, user=bob, guidance="Refund the $150, bob.")

    expect(card).to_contain_text("Resumed with guidance by bob", timeout=10000)
    expect(card).to_contain_text("Agent asked for help")
    expect(card).to_contain_text("Refund the $150, bob.")
    expect(card).to_have_class(re.compile(r"\bcard-closed\b"))
    screenshot(page, "detail-card-resolved")
    page.reload()
    expect(page.locator("#escalation-card")).to_contain_text("Resumed with guidance by bob")


def test_the_queue_claims_from_the_row_and_from_the_keyboard(open_page, ana, agent):
    made = {}
    for severity, blocking in [("critical", True), ("warning", False), ("info", True)]:
        conversation = factories.make_conversation(agent)
        made[severity] = factories.open_escalation(
            conversation, severity=severity, blocking=blocking, reason=f"The {severity} one"
        )
    page = open_page(ana, "/console/")
    wait_until_live(page)
    row = {severity: page.locator(f'tr[data-escalation-id="{e.pk}"]') for severity, e in made.items()}
    # The non-blocking one says so: the agent is not waiting on it.
    expect(row["warning"].locator(".notify-only")).to_have_text("notify only")
    expect(row["critical"].locator(".notify-only")).to_have_count(0)
    expect(page.locator("tr .claim-button")).to_have_count(3)

    # j/k move the selection (critical, warning, info by the default sort); keys in a form field do not.
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(row["warning"]).to_have_class(SELECTED)
    severity_filter = page.locator("select[name=severity]")
    severity_filter.focus()
    severity_filter.press("j")  # a key for the form field, not for the queue
    severity_filter.press("c")
    expect(row["warning"]).to_have_class(SELECTED)
    expect(row["info"]).not_to_have_class(SELECTED)
    assert page.url.endswith("/console/")
    severity_filter.evaluate("node => node.blur()")

    # ? shows the shortcuts, Esc hides them.
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    screenshot(page, "queue-shortcuts")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-help")).to_be_hidden()

    # c claims the selected one and opens it, ready to answer.
    page.keyboard.press("c")
    expect(page.locator(".flash")).to_contain_text("You claimed this escalation.", timeout=10000)
    assert page.url.endswith(f"/console/escalations/{made['warning'].pk}/")
    made["warning"].refresh_from_db()
    assert (made["warning"].status, made["warning"].claimed_by) == (Status.CLAIMED, ana)

    # Back in the queue: the claimed row has no Claim button; another row's button claims it.
    page.goto(page.url.split("/console/")[0] + "/console/")
    expect(row["warning"]).to_contain_text("you")
    expect(row["warning"].locator(".claim-button")).to_have_count(0)
    screenshot(page, "queue-fast-paths")
    row["info"].get_by_role("button", name="Claim").click()
    expect(page.locator(".flash")).to_contain_text("You claimed this escalation.", timeout=10000)
    made["info"].refresh_from_db()
    assert made["info"].claimed_by == ana

    # Enter opens the selected row.
    page.goto(page.url.split("/console/")[0] + "/console/")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/escalations/{made['critical'].pk}/")
