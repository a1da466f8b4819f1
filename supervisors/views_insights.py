"""The console's insights page: thin views over supervisors.insights (reads only)."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from supervisors import insights
from supervisors.forms import InsightFilters
from supervisors.models import Role, Team
from supervisors.selectors import team_ids_with_role
from supervisors.views import _query_without

DEFAULT_PERIOD_DAYS = 30


def _teams_of(user) -> list[Team]:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    teams = Team.objects.order_by("name")
    return list(teams if team_ids is None else teams.filter(pk__in=team_ids))


def _period(data: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime, dt.datetime, str]:
    """[start, end) in UTC and how to say it. A custom range includes its `to` day."""
    if data.get("from"):
        start = dt.datetime.combine(data["from"], dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(data["to"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        return start, end, f"{data['from']:%Y-%m-%d} to {data['to']:%Y-%m-%d}"
    days = int(data.get("period") or DEFAULT_PERIOD_DAYS)
    return now - dt.timedelta(days=days), now, f"the last {days} days"


@require_GET
@login_required
def insights_page(request: HttpRequest) -> HttpResponse:
    teams = _teams_of(request.user)
    filters = InsightFilters(request.GET, teams=[(team.slug, team.name) for team in teams])
    if not filters.is_valid():
        return render(request, "console/insights.html", {"filters": filters, "teams": teams}, status=400)
    data = filters.cleaned_data
    chosen = [team for team in teams if team.slug == data["team"]] if data["team"] else teams
    start, end, period_label = _period(data, timezone.now())
    rows = insights.escalations_in(team_ids={team.pk for team in chosen}, start=start, end=end)
    if data["format"] == "csv":
        return _csv(data["table"], rows, start=start, end=end)
    buckets = insights.over_time(rows, start=start, end=end)
    agents = insights.agent_stats(rows)
    rules = insights.rule_stats(rows)
    return render(
        request,
        "console/insights.html",
        {
            "filters": filters,
            "teams": teams,
            "period_label": period_label,
            "start": start,
            "end": end,
            "chart": insights.chart(buckets),
            "bucket_size": insights.bucket_size(start, end),
            "agents": agents,
            "rules": rules,
            "noisy_rules": [rule for rule in rules if rule.flagged],
            "busy_agents": [agent for agent in agents if agent.flagged],
            "supervisors": insights.supervisor_stats(rows),
            "severities": insights.SEVERITY_ORDER,
            "noisy_min": insights.NOISY_MIN_ESCALATIONS,
            "noisy_share": insights.NOISY_SHARE,
            "outlier_factor": insights.OUTLIER_FACTOR,
            "csv_query": _query_without(request, "format", "table"),
        },
    )


_GROUP_COLUMNS = [
    "count",
    "dismissed",
    "share_dismissed",
    "not_needed",
    "share_not_needed",
    "needed",
    "claim_p50",
    "claim_p90",
    "answer_p50",
    "answer_p90",
    "response_breaches",
    "resolution_breaches",
    "flagged",
]


def _csv(table: str, rows, *, start: dt.datetime, end: dt.datetime) -> HttpResponse:
    """One table as CSV: shares as fractions, times in seconds, so a spreadsheet can compute on them."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"insights-{table}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    if table in ("agents", "rules"):
        items = insights.agent_stats(rows) if table == "agents" else insights.rule_stats(rows)
        head = ["agent"] if table == "agents" else ["rule", "agent"]
        writer.writerow([*head, *_GROUP_COLUMNS])
        for item in items:
            names = [item.label] if table == "agents" else [item.label, item.detail]
            writer.writerow([*names, *[_cell(getattr(item, column)) for column in _GROUP_COLUMNS]])
    elif table == "supervisors":
        writer.writerow(["supervisor", "answered", "resolved", "dismissed"])
        for person in insights.supervisor_stats(rows):
            writer.writerow([person.name, person.answered, person.resolved, person.dismissed])
    else:  # over_time
        severities = insights.SEVERITY_ORDER
        writer.writerow(["bucket_start", *[str(s) for s in severities], "total"])
        for bucket in insights.over_time(rows, start=start, end=end):
            counts = [bucket.counts.get(severity, 0) for severity in severities]
            writer.writerow([bucket.start.date().isoformat(), *counts, bucket.total])
    return response


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if value is None:
        return ""
    return value
