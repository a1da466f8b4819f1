"""Every figure of the insights page, computed on the hand-made data of conftest.world."""

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from supervisors import insights

URL = "/console/insights/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def by_label(items):
    return {item.label: item for item in items}


def test_percentile_interpolates_like_percentile_cont():
    assert insights.percentile([], 0.5) is None
    assert insights.percentile([7.0], 0.9) == 7.0
    assert insights.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert insights.percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)


def test_rule_figures(world, ana):
    response = client_for(ana).get(URL)
    assert response.status_code == 200
    rules = by_label(response.context["rules"])
    refunds = rules["Refunds"]
    assert (refunds.count, refunds.dismissed, refunds.not_needed, refunds.needed) == (10, 6, 1, 1)
    assert refunds.share_dismissed == pytest.approx(0.6)
    assert refunds.share_not_needed == pytest.approx(0.1)
    assert refunds.claim_p50 == pytest.approx(5.5 * 60)  # median of 1..10 minutes
    assert refunds.claim_p90 == pytest.approx(9.1 * 60)
    assert refunds.answer_p50 == pytest.approx(15.5 * 60)  # 11..20 minutes
    assert refunds.answer_p90 == pytest.approx(19.1 * 60)
    assert (refunds.response_breaches, refunds.resolution_breaches) == (2, 1)
    # 6 dismissed + 1 resolved but not needed = 70% of 10: noisy.
    assert refunds.flagged and refunds.flag_reason == "70% dismissed or not needed"
    chargebacks = rules["Chargebacks"]
    # All 9 dismissed, but fewer than NOISY_MIN_ESCALATIONS: not flagged.
    assert (chargebacks.count, chargebacks.share_dismissed, chargebacks.flagged) == (9, 1.0, False)
    assert chargebacks.claim_p50 is None and chargebacks.answer_p50 == pytest.approx(120)
    tool_calls = rules["No rule (escalate_to_human calls)"]
    assert (tool_calls.count, tool_calls.flagged) == (2, False)
    assert [rule.label for rule in response.context["noisy_rules"]] == ["Refunds"]


def test_agent_figures_and_the_outlier_flag(world, ana):
    agents = by_label(client_for(ana).get(URL).context["agents"])
    assert {name: agent.count for name, agent in agents.items()} == {
        "Billing Bot": 19,
        "Helper": 1,
        "Quiet": 1,
    }
    bot = agents["Billing Bot"]
    assert bot.dismissed == 15 and bot.share_dismissed == pytest.approx(15 / 19)
    # Median per agent is 1; 19 > 2 × 1.
    assert bot.flagged and bot.flag_reason == "19.0× the team's median (1)"
    assert not agents["Helper"].flagged and not agents["Quiet"].flagged
    helper = agents["Helper"]
    # To the millisecond: SQLite's julianday() differences are exact to ~50 µs.
    assert (helper.claim_p50, helper.answer_p50, helper.answer_p90) == pytest.approx((60, 120, 120), abs=1e-3)
    # A withdrawal is nobody's answer.
    assert agents["Quiet"].answer_p50 is None


def test_supervisors_and_the_chart(world, ana):
    context = client_for(ana).get(URL).context
    assert [(p.name, p.answered, p.resolved, p.dismissed) for p in context["supervisors"]] == [
        ("ana", 19, 4, 15),
        ("bob", 1, 1, 0),
    ]
    chart = context["chart"]
    assert chart["total"] == 21 and chart["peak"] == 21
    heights = {bar["severity"]: bar["height"] for bar in chart["bars"]}
    plot = chart["plot_height"]
    # One day's stack: 10 warning, 9 info, 1 critical + 1 warning (the withdrawn one) of 21.
    expected = {"warning": 11 / 21 * plot, "info": 9 / 21 * plot, "critical": 1 / 21 * plot}
    assert heights == pytest.approx(expected, abs=0.01)  # drawn to 0.01 units
    page = client_for(ana).get(URL).content.decode()
    assert page.count('class="bar bar-') == 3


def test_the_period_decides_what_counts(world, ana):
    client = client_for(ana)
    assert by_label(client.get(URL, {"period": "90"}).context["rules"])["Refunds"].count == 11
    day = world["day"].date().isoformat()
    assert client.get(URL, {"from": day, "to": day}).context["chart"]["total"] == 21
    response = client.get(URL, {"from": "2020-01-01", "to": "2020-01-02"})
    assert response.context["chart"]["total"] == 0 and response.context["rules"] == []


def test_teams_are_kept_apart(world, ana, outsider, olga):
    ours = client_for(ana).get(URL).context
    assert "Legal Bot" not in by_label(ours["agents"])
    theirs = client_for(outsider).get(URL).context
    assert list(by_label(theirs["agents"])) == ["Legal Bot"]
    assert theirs["chart"]["total"] == 3
    # Asking for a team that is not yours is refused, not quietly widened.
    assert client_for(ana).get(URL, {"team": "legal"}).status_code == 400
    assert client_for(olga).get(URL, {"team": "billing"}).status_code == 200


@pytest.mark.parametrize(
    "query, message",
    [
        ({"period": "12"}, "Select a valid choice"),
        ({"from": "2026-01-01"}, "Give both from and to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from must be on or before to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "at most 366 days"),
        ({"from": "yesterday", "to": "2026-01-01"}, "Enter a valid date"),
        ({"format": "csv"}, "Say which table"),
        ({"format": "csv", "table": "secrets"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_a_400_that_says_why(world, ana, query, message):
    response = client_for(ana).get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_every_table_downloads_as_csv(world, ana):
    client = client_for(ana)
    response = client.get(URL, {"format": "csv", "table": "rules"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = {row["rule"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows["Refunds"]["count"] == "10" and rows["Refunds"]["claim_p50"] == "330.0"
    assert rows["Refunds"]["flagged"] == "True" and rows["Refunds"]["share_dismissed"] == "0.6"
    for table, first in [("agents", "agent"), ("supervisors", "supervisor"), ("over_time", "bucket_start")]:
        response = client.get(URL, {"format": "csv", "table": table, "period": "7"})
        assert response.status_code == 200
        assert response.content.decode().splitlines()[0].startswith(first)
    supervisors = client.get(URL, {"format": "csv", "table": "supervisors"}).content.decode().splitlines()
    assert supervisors[1:] == ["ana,19,4,15", "bob,1,1,0"]


def test_the_page_shows_the_thresholds_and_links_the_csvs(world, ana):
    page = client_for(ana).get(URL).content.decode()
    assert "at least 10 escalations of which at least 60%" in page
    assert "more than 2× its team's median" in page
    assert "format=csv&amp;table=rules" in page
    assert '<option value="30" selected>' in page  # the default period is the one shown
    assert reverse("console:insights") in client_for(ana).get("/console/").content.decode()


def test_a_year_is_drawn_by_week_starting_on_monday(world, team):
    end = timezone.now()
    start = end - dt.timedelta(days=365)
    rows = insights.escalations_in(team_ids={team.pk}, start=start, end=end)
    buckets = insights.over_time(rows, start=start, end=end)
    assert insights.bucket_size(start, end) == "week"
    assert all(bucket.start.weekday() == 0 and bucket.start.tzinfo is not None for bucket in buckets)
    monday = (world["day"] - dt.timedelta(days=world["day"].weekday())).replace(hour=0)
    by_start = {bucket.start: bucket.total for bucket in buckets}
    assert by_start[monday] == 21  # the 21 of that day; the one 40 days ago in its own week
    assert sum(by_start.values()) == 22
    assert len(buckets) == len(by_start)  # no week twice (a database bucket matched an empty one)
