"""The console's audit log: a thin view over supervisors.audit (reads only)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from supervisors import audit
from supervisors.forms import AuditFilters
from supervisors.models import Role
from supervisors.selectors import team_ids_with_role
from supervisors.views import PAGE_SIZE, _query_without


def _midnight(day: dt.date) -> dt.datetime:
    """The day starts at midnight where the viewer is: the zone every console time is shown in."""
    return dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())


@require_GET
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = AuditFilters(request.GET)
    if not filters.is_valid():
        return render(request, "console/audit.html", {"filters": filters, "page": None}, status=400)
    data = filters.cleaned_data
    page = audit.audit_page(
        team_ids=team_ids_with_role(request.user, Role.SUPERVISOR),
        kinds=[data["type"]] if data["type"] else list(audit.KINDS),
        username=data["user"],
        object_id=data["object"],
        start=_midnight(data["from"]) if data.get("from") else None,
        end=_midnight(data["to"]) + dt.timedelta(days=1) if data.get("to") else None,
        text=data["q"],
        cursor=request.GET.get("after"),
        size=PAGE_SIZE,
    )
    return render(
        request,
        "console/audit.html",
        {
            "filters": filters,
            "page": page,
            "base_query": _query_without(request, "after"),
            "is_first_page": not request.GET.get("after"),
        },
    )
