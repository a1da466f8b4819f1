"""console.js when the server ends the socket for good (issue 14, items 1 and 15): signed out
in another tab, the page goes to the login page (and back after); no longer in any of its
teams, it stops and says so. Neither retries in a loop."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from supervisors.access import access_changed
from supervisors.models import Membership
from tests.browser.test_console import wait_until_live


def test_logging_out_in_another_tab_takes_the_console_to_the_login_page(open_page, live_server_url, ana):
    queue = open_page(ana, "/console/?sort=newest")
    wait_until_live(queue)
    other_tab = queue.context.new_page()
    other_tab.goto(live_server_url + "/console/history/")

    other_tab.get_by_role("button", name="Log out").click()

    back_here = re.compile(r"/console/login/\?next=%2Fconsole%2F%3Fsort%3Dnewest$")
    expect(queue).to_have_url(back_here, timeout=3000)


def test_a_page_whose_user_left_every_team_stops_and_says_why(open_page, ana):
    queue = open_page(ana, "/console/")
    wait_until_live(queue)

    Membership.objects.filter(user=ana).delete()
    access_changed(user_ids=[ana.pk])  # as the admin's delete does

    expect(queue.locator("#live-notice")).to_contain_text("no longer a member of the teams", timeout=3000)
    expect(queue.locator("#live-status")).to_have_text("Not updating")
