"""The browser harness itself: Chromium opens a page of ours, logged in, with our stylesheet applied."""

from tests.browser.conftest import screenshot


def test_a_logged_in_supervisor_sees_the_styled_home_page(open_page, ana):
    page = open_page(ana, "/")
    assert page.locator("header .who").inner_text() == "ana"
    # The stylesheet is served locally and applied: the header is not the browser's default.
    background = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert screenshot(page, "home").stat().st_size > 0
