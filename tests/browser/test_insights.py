"""The insights page in Chromium: the server-drawn chart renders, and a table downloads as CSV."""

import csv
import io

from tests.browser.conftest import screenshot
from tests.insights.conftest import world  # noqa: F401  (the hand-made escalations, as a fixture)


def test_the_chart_renders_and_the_rules_table_downloads_as_csv(open_page, world, ana):  # noqa: F811
    page = open_page(ana, "/console/insights/")
    chart = page.locator("#insights-chart")
    chart.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 50  # drawn, not collapsed
    bars = page.locator("#insights-chart rect.bar")
    assert bars.count() == 3  # one day, three severities
    heights = [float(bars.nth(k).get_attribute("height")) for k in range(bars.count())]
    assert all(height > 0 for height in heights)
    # The bars are painted in the severity colours from the stylesheet, not left black.
    fill = page.evaluate("getComputedStyle(document.querySelector('#insights-chart rect.bar-critical')).fill")
    assert fill not in ("rgb(0, 0, 0)", "none", "")
    assert page.locator("#insights-flags").inner_text().count("Noisy rule") == 1

    with page.expect_download() as download_info:
        page.locator("a.csv[href*='table=rules']").click()
    download = download_info.value
    assert download.suggested_filename.startswith("insights-rules-")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert {row["rule"]: row["count"] for row in rows}["Refunds"] == "10"
    assert screenshot(page, "insights").stat().st_size > 0


def test_the_demo_data_draws_a_chart_and_downloads_its_agents(open_page, transactional_db):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    page = open_page(get_user_model().objects.get(username="ana"), "/console/insights/")

    bars = page.locator("#insights-chart rect.bar")
    bars.first.wait_for()
    assert bars.count() > 0
    assert all(float(bars.nth(k).get_attribute("height")) > 0 for k in range(bars.count()))
    with page.expect_download() as download_info:
        page.locator("a.csv[href*='table=agents']").click()
    rows = list(csv.DictReader(io.StringIO(open(download_info.value.path(), encoding="utf-8").read())))
    assert sum(int(row["count"]) for row in rows) > 0
    assert screenshot(page, "insights-demo").stat().st_size > 0
