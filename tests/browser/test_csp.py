"""Under the Content-Security-Policy (no inline script) every kind of page still works in Chromium
and the browser reports no violation: the console (with its live socket), the insights chart,
the admin, Swagger UI and the DRF browsable API."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.test_console import wait_until_live

# Runs before the page's own scripts; the CSP does not apply to it (it is injected, not loaded).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_the_console_pages_report_no_csp_violation(open_page, ana, escalation):
    page = open_page(ana, "/console/", init_script=RECORD_VIOLATIONS)
    wait_until_live(page)  # console.js ran and its websocket is open: script-src and connect-src allow them
    expect(page.locator(f'tr[data-escalation-id="{escalation.pk}"]')).to_be_visible()
    assert violations(page) == []

    page.goto(page.url + f"escalations/{escalation.pk}/")
    wait_until_live(page)
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("button", name="Release")).to_be_visible()
    assert violations(page) == []

    page.goto(page.url.split("/console/")[0] + "/console/insights/")
    page.locator("#insights-chart").wait_for()
    assert violations(page) == []


@pytest.mark.parametrize(
    "path, ready",
    [
        ("/admin/", "#content"),
        ("/admin/agents/agent/add/", "#agent_form"),
        ("/admin/agents/escalationrule/add/", "#escalationrule_form"),  # its kind switch script
        ("/api/docs/", ".swagger-ui .information-container"),  # drawn by Swagger UI's own script
        ("/api/v1/escalations/", "#content"),  # the browsable API
    ],
)
def test_the_admin_and_the_api_pages_report_no_csp_violation(open_page, team, path, ready):
    admin = factories.make_user(superuser=True)
    page = open_page(admin, path, init_script=RECORD_VIOLATIONS)

    # Generous: Swagger UI fetches a large bundle and the schema, slow on a loaded machine.
    page.locator(ready).first.wait_for(timeout=30_000)

    assert violations(page) == []
