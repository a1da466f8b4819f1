"""The console in real Chromium against daphne and the test Redis: live queue, the race to answer,
filters and sorting, the empty state. Screenshots land in tests/browser/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from playwright.sync_api import expect

from agents.keys import agent_key_create
from agents.models import Message
from escalations import broadcast, services
from escalations.models import Event, EventType
from tests import factories
from tests.browser.conftest import screenshot
from tests.waiting import team_group_subscribers, wait_until

EMPTY_STATE = "No escalations yet. All agents are running smoothly."


def wait_until_live(page) -> None:
    """The socket is open and has asked for what it missed: from here on, events reach the page."""
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=5000)


@pytest.fixture
def agent_headers(agent) -> dict[str, str]:
    _, key = agent_key_create(agent=agent, name="browser tests")
    return {"Authorization": f"Bearer {key}"}


def test_an_escalation_created_over_the_api_appears_in_an_open_console_without_a_reload(
    open_page, live_server_url, ana, bob, agent_headers
):
    page = open_page(ana, "/console/")
    expect(page.get_by_text(EMPTY_STATE)).to_be_visible()
    screenshot(page, "queue-empty")
    wait_until_live(page)
    # Set on this document only: still there afterwards means the page was never reloaded.
    page.evaluate("window.__sameDocument = true")

    created = requests.post(
        f"{live_server_url}/api/v1/escalations/",
        json={
            "conversation": "chat-77",
            "channel": "chat",
            "reason": "Customer threatens legal action over a double charge",
            "severity": "critical",
        },
        headers=agent_headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    row = page.locator(f'tr[data-escalation-id="{created.json()["id"]}"]')
    # Pushed over the socket (how fast is bench/'s business): the timeout only bounds a failure.
    expect(row).to_be_visible(timeout=10000)
    assert page.evaluate("window.__sameDocument") is True
    expect(row).to_contain_text("Customer threatens legal action over a double charge")
    expect(row).to_contain_text("Critical")
    expect(row).to_contain_text("Chat")
    expect(page.get_by_text(EMPTY_STATE)).to_have_count(0)
    # The counts and the header follow, and a critical one flags the tab.
    expect(page.locator("#severity-counts .sev-critical strong")).to_have_text("1")
    expect(page.locator("#header-widget .queue-count")).to_have_text("1")
    expect(page).to_have_title("(1) Critical · Queue · Escalation Console")
    # ana's own socket counts her as online in her team.
    expect(page.locator("#header-widget [data-presence-team]")).to_have_text("1")

    # Claimed by bob elsewhere: the row shows who holds it.
    services.claim(escalation_id=created.json()["id"], user=bob)
    expect(row).to_contain_text("bob", timeout=10000)
    screenshot(page, "queue")


def test_two_supervisors_answer_at_the_same_moment_and_exactly_one_guidance_reaches_the_agent(
    open_page, live_server_url, ana, bob, conversation, agent_headers
):
    Message.objects.create(
        conversation=conversation, role="user", content="I was charged twice, I want a refund of $150 now."
    )
    escalation = factories.open_escalation(
        conversation, reason="Refund of $150 is over the $100 limit", severity="critical", blocking=True
    )
    waited: dict = {}

    def long_poll():
        url = f"{live_server_url}/api/v1/escalations/{escalation.pk}/?wait=30"
        waited["response"] = requests.get(url, headers=agent_headers, timeout=40)

    poller = threading.Thread(target=long_poll)
    poller.start()
    # Before any console page is open, a subscriber to the team's events is the long-poll.
    wait_until(
        lambda: team_group_subscribers(escalation.team_id) > 0,
        message="the agent's long-poll subscribing to the team's events",
    )

    pages = {}
    for user in (ana, bob):
        page = open_page(user, f"/console/escalations/{escalation.pk}/")
        wait_until_live(page)
        page.get_by_label("Guidance for the agent").fill(f"Refund it. ({user.username})")
        pages[user.username] = page
    screenshot(pages["ana"], "detail")
    assert poller.is_alive()

    # Both buttons pressed at the same wall-clock instant, one in each browser context.
    at = pages["ana"].evaluate("Date.now() + 700")
    for page in pages.values():
        page.evaluate(
            """at => setTimeout(
                () => document.querySelector('form[action$="/respond/"] button[type=submit]').click(),
                at - Date.now())""",
            at,
        )
    for page in pages.values():
        expect(page.locator(".flash")).to_be_visible(timeout=10000)

    flashes = {name: page.locator(".flash").inner_text() for name, page in pages.items()}
    success = "Sent: the agent resumes with your guidance."
    winners = [name for name, text in flashes.items() if success in text]
    assert len(winners) == 1, flashes
    winner = winners[0]
    loser = "bob" if winner == "ana" else "ana"
    assert f"already resolved by {winner}" in flashes[loser].lower(), flashes
    # The loser's page now shows the answer and offers no answers; only the verdict remains
    # (was a human needed?), which anyone of the team may give after the answer.
    expect(pages[loser].locator("#escalation-actions")).to_contain_text(f"Refund it. ({winner})")
    expect(pages[loser].locator("#escalation-actions button:not([name=needed])")).to_have_count(0)
    expect(pages[loser].locator("#escalation-actions button[name=needed]")).to_have_count(2)
    screenshot(pages[loser], "detail-already-resolved")

    poller.join(timeout=35)
    body = waited["response"].json()
    assert body["status"] == "resolved", body
    assert body["resolution"]["guidance"] == f"Refund it. ({winner})"
    assert body["resolution"]["responder"] == winner
    assert Event.objects.filter(escalation=escalation, type=EventType.RESOLVED).count() == 1


def test_filters_and_the_severity_sort_survive_a_reload(open_page, ana, agent):
    reasons = {
        "info": "Customer asked about delivery times",
        "critical": "Customer threatens a chargeback",
        "warning": "Customer is getting angry",
    }
    for number, (severity, reason) in enumerate(reasons.items()):
        conversation = factories.make_conversation(agent, f"chat-{number}")
        factories.open_escalation(conversation, reason=reason, severity=severity)

    page = open_page(ana, "/console/")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)
    # The default sort: critical first, then warning, then info.
    assert [rows.nth(i).locator(".reason a").inner_text() for i in range(3)] == [
        reasons["critical"],
        reasons["warning"],
        reasons["info"],
    ]

    page.locator("select[name=severity]").select_option("warning")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(reasons["warning"])
    assert "severity=warning" in page.url

    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator("select[name=severity]")).to_have_value("warning")

    page.goto(page.url.split("?")[0] + "?sort=newest")
    expect(rows).to_have_count(3)
    assert rows.first.locator(".reason a").inner_text() == reasons["warning"]  # created last


def test_the_empty_state_says_what_makes_an_escalation_appear(open_page, ana):
    page = open_page(ana, "/console/")
    expect(page.get_by_text(EMPTY_STATE)).to_be_visible()
    expect(page.get_by_text("escalate_to_human")).to_be_visible()
    expect(page.locator("table.queue")).to_have_count(0)
    expect(page.locator("#severity-counts")).to_contain_text("0")


def test_an_open_detail_page_shows_that_someone_else_answered_and_keeps_what_was_typed(
    open_page, ana, bob, escalation
):
    page = open_page(ana, f"/console/escalations/{escalation.pk}/")
    wait_until_live(page)
    guidance = page.get_by_label("Guidance for the agent")
    guidance.fill("Half-written advice")  # focused: the form must not vanish under the cursor

    services.respond(escalation_id=escalation.pk, user=bob, guidance="Refund it, bob here.")

    expect(page.locator("#live-notice")).to_have_text("bob just answered this escalation.", timeout=10000)
    expect(page.locator("#escalation-head")).to_contain_text("Resolved")
    expect(guidance).to_have_value("Half-written advice")
    expect(page.get_by_role("button", name="Respond & resume")).to_be_disabled()
    expect(page.get_by_role("button", name="Dismiss")).to_be_disabled()

    page.reload()
    expect(page.locator("#escalation-actions")).to_contain_text("Refund it, bob here.")
    expect(page.locator("#escalation-actions button:not([name=needed])")).to_have_count(0)


# Before the page's scripts run: the heartbeat every 0.5 s instead of 20 s.
FAST_HEARTBEAT = """
(() => {
  const setInterval_ = window.setInterval;
  window.setInterval = (fn, ms, ...rest) => setInterval_(fn, ms === 20000 ? 500 : ms, ...rest);
})();
"""


def test_an_event_the_channel_layer_dropped_still_reaches_the_page(open_page, ana, conversation, monkeypatch):
    page = open_page(ana, "/console/", init_script=FAST_HEARTBEAT)
    wait_until_live(page)
    # The event is committed but never published: what a channel layer's silent drop looks like.
    published = []
    monkeypatch.setattr(broadcast, "publish_event", published.append)

    escalation = factories.open_escalation(conversation, reason="Lost in the pipes", severity="warning")

    assert len(published) == 1  # it was due to go out, and did not
    # No later event comes to trigger a refresh: the heartbeat's catch-up finds it.
    expect(page.locator(f'tr[data-escalation-id="{escalation.pk}"]')).to_be_visible(timeout=5000)


def test_timers_show_up_live_a_breach_as_a_toast_and_an_expired_claim_on_its_page(open_page, ana, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    queue = open_page(ana, "/console/")
    detail = open_page(ana, f"/console/escalations/{escalation.pk}/")
    wait_until_live(queue)
    wait_until_live(detail)
    expect(detail.get_by_role("button", name="Extend claim")).to_be_visible()
    later = escalation.resolution_due_at + dt.timedelta(minutes=1)

    assert services.mark_breached(escalation_ids=[escalation.pk], target="resolution", now=later) == 1

    toast = queue.locator("#live-toasts .toast")
    expect(toast).to_have_text(
        f"#{escalation.pk} “{escalation.reason}” is past its time to answer.", timeout=10000
    )
    assert toast.get_attribute("href") == f"/console/escalations/{escalation.pk}/"
    expect(detail.locator("#escalation-targets")).to_contain_text("missed", timeout=10000)

    assert services.expire_claim(escalation_ids=[escalation.pk], now=later) == 1

    expect(detail.locator("#live-notice")).to_have_text(
        "The claim expired: this escalation is back in the queue.", timeout=10000
    )
    expect(detail.get_by_role("button", name="Claim")).to_be_visible()
    expect(queue.locator(f'tr[data-escalation-id="{escalation.pk}"]')).to_contain_text("unclaimed")
