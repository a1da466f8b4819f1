"""The console's insights page: thin views over supervisors.insights (reads only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from agents.models import Agent
from agents.services import rule_draft_create
from escalation_project import csv_safe
from supervisors import insights, suggestions
from supervisors.forms import DraftRuleForm, InsightFilters, SuggestionFilters
from supervisors.models import Role, Team
from supervisors.selectors import has_team_role, team_ids_with_role
from supervisors.views import _query_without


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
    days = int(data["period"])  # InsightFilters fills in the default
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
    with insights.roomy_sorts():
        if data["format"] == "csv":
            return _csv(data["table"], rows, start=start, end=end)
        buckets = insights.over_time(rows, start=start, end=end)
        counts = insights.grouped_counts(rows)
        agents = insights.agent_stats(rows, counts=counts)
        rules = insights.rule_stats(rows, counts=counts)
        supervisors = insights.supervisor_stats(rows)
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
            "supervisors": supervisors,
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
    # Names come from admins and agents: a rule named `=HYPERLINK(...)` must stay text.
    writer = csv_safe.writer(response)
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


# --- Rule suggestions ----------------------------------------------------------------------------

DEFAULT_SUGGESTION_DAYS = 30
TEXT = "text/plain; charset=utf-8"


def _agents_of(user) -> list[Agent]:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    agents = Agent.objects.select_related("team").order_by("team__name", "name")
    return list(agents if team_ids is None else agents.filter(team_id__in=team_ids))


@require_http_methods(["GET", "POST"])
@login_required
def suggestions_page(request: HttpRequest) -> HttpResponse:
    """GET: suggestions for one agent; POST (a contributor): a disabled draft rule, then its what-if page."""
    agents = _agents_of(request.user)
    choices = [(agent.slug, f"{agent.name} ({agent.team.name})") for agent in agents]
    by_slug = {agent.slug: agent for agent in agents}
    if request.method == "POST":
        form = DraftRuleForm(request.POST, agents=choices)
        if not form.is_valid():
            return HttpResponse(_errors(form), status=400, content_type=TEXT)
        try:
            rule = rule_draft_create(
                agent=by_slug[form.cleaned_data["agent"]],
                user=request.user,
                phrase=form.cleaned_data["phrase"],
            )
        except ValidationError as refusal:
            return HttpResponse(
                " ".join(refusal.messages), status=403, content_type="text/plain; charset=utf-8"
            )
        messages.success(
            request, f"Draft rule “{rule.name}” made (disabled): try it here, then switch it on."
        )
        return redirect(reverse("admin:agents_escalationrule_what_if", args=[rule.pk]))
    filters = SuggestionFilters(request.GET, agents=choices)
    if not filters.is_valid():
        return render(request, "console/suggestions.html", {"filters": filters}, status=400)
    days = filters.cleaned_data["days"] or DEFAULT_SUGGESTION_DAYS
    agent = by_slug.get(filters.cleaned_data["agent"]) or suggestions.agent_to_open_on(agents, days=days)
    if agent is not None and not filters.cleaned_data["agent"]:
        # The select shows the agent the page opened on, not merely the first in the list.
        filters = SuggestionFilters({**request.GET.dict(), "agent": agent.slug}, agents=choices)
        filters.is_valid()
    return render(
        request,
        "console/suggestions.html",
        {
            "filters": filters,
            "agent": agent,
            "days": days,
            "result": suggestions.suggestions_for(agent, days=days) if agent else None,
            "can_draft": agent is not None and has_team_role(request.user, agent.team_id, Role.CONTRIBUTOR),
            "min_count": suggestions.MIN_COUNT,
            "min_z": suggestions.MIN_Z,
            "max_conversations": suggestions.MAX_CONVERSATIONS,
        },
    )


def _errors(form) -> str:
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
