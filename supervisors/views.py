"""The supervisor console: thin views. Reads go through selectors, writes only through services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent, Message
from escalation_project.keyset import paginate
from escalations import services
from escalations.choices import Severity
from escalations.models import NO_DUE, Escalation, Status, Verb
from escalations.selectors import (
    HISTORY_KEYS,
    QUEUE_SORTS,
    active_counts_by_severity,
    allowed_verbs,
    console_history,
    console_queue,
    escalations_visible_to,
    history_of,
    unanswered_count,
)
from supervisors.context_processors import live_context
from supervisors.forms import DismissForm, HistoryFilters, OnDutyForm, QueueFilters, RespondForm
from supervisors.models import Membership, Role
from supervisors.selectors import team_ids_with_role
from supervisors.services import membership_set_on_duty
from supervisors.templatetags.console import age, local_minute, severity_icon

PAGE_SIZE = 50
# A conversation can run to thousands of messages (a cron agent's log); the newest are what matter.
THREAD_LIMIT = 200


def _agents_of(user) -> Any:
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    return Agent.objects.all() if team_ids is None else Agent.objects.filter(team_id__in=team_ids)


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# --- Queue ------------------------------------------------------------------------------


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    live = live_context()
    filters = QueueFilters(request.GET, agents=_agents_of(request.user))
    rows = filters.filter_for(console_queue(user=request.user), request.user)
    page = paginate(rows, keys=QUEUE_SORTS[filters.sort_key], cursor=request.GET.get("after"), size=PAGE_SIZE)
    now = timezone.now()
    for escalation in page.rows:
        # The target that runs now (the generated column the "due" sort reads): time to claim
        # while open, time to answer once claimed; none sorts last as NO_DUE.
        escalation.due_at = None if escalation.queue_due_at == NO_DUE else escalation.queue_due_at
        escalation.overdue = escalation.due_at is not None and escalation.due_at < now
    detail_prefix = reverse("console:queue") + "escalations/"
    rows = [_queue_row(escalation, request.user.pk, now, detail_prefix) for escalation in page.rows]
    counts = active_counts_by_severity(user=request.user)
    filtered = any(request.GET.get(name) for name in filters.fields if name != "sort")
    return render(
        request,
        "console/queue.html",
        {
            "filters": filters,
            "page": page,
            "rows": rows,
            "counts": [(severity, label, counts[severity]) for severity, label in reversed(Severity.choices)],
            "unanswered": unanswered_count(user=request.user),
            "filtered": filtered,
            "current_severity": filters.value("severity"),
            "base_query": _query_without(request, "after"),
            "is_first_page": not request.GET.get("after"),
            "live": live,
        },
    )


def _queue_row(escalation: Escalation, viewer_id: int, now: dt.datetime, detail_prefix: str) -> dict:
    """What one queue row prints, worked out once in Python.

    Fifty rows of some thirty template lookups, filters and `{% url %}` calls were
    half of a render; a dict is the template language's fastest lookup.
    """
    due_at = escalation.due_at
    return {
        "pk": escalation.pk,
        "url": f"{detail_prefix}{escalation.pk}/",
        "severity": escalation.severity,
        "severity_label": escalation.get_severity_display(),
        "severity_icon": severity_icon(escalation.severity),
        "reason": escalation.reason,
        "team_name": escalation.team.name,
        "agent_name": escalation.agent.name,
        "channel_label": escalation.get_channel_display(),
        "topic_area": " / ".join(part for part in (escalation.topic or "—", escalation.area) if part),
        "created_iso": escalation.created_at.isoformat(),
        "created_title": local_minute(escalation.created_at),
        "age": age(escalation.created_at, now),
        "due_iso": due_at.isoformat() if due_at else "",
        "due_text": (age(due_at, now) if escalation.overdue else "in " + age(now, due_at)) if due_at else "",
        "overdue": escalation.overdue,
        "holder": escalation.claimed_by.get_username() if escalation.claimed_by_id else "",
        "holder_is_you": escalation.claimed_by_id == viewer_id,
        "assignee": escalation.assigned_to.get_username() if escalation.assigned_to_id else "",
        "assignee_is_you": escalation.assigned_to_id == viewer_id,
        "level": escalation.level,
        # The console's queue lists the viewer's supervisor teams only, where anyone may claim
        # an open escalation (escalations.transitions): no per-row permission read.
        "claimable": escalation.status == Status.OPEN,
        "claim_url": f"{detail_prefix}{escalation.pk}/claim/",
        "notify_only": not escalation.blocking,
    }


# --- History ------------------------------------------------------------------------------


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    filters = HistoryFilters(request.GET, agents=_agents_of(request.user))
    rows = filters.filter(console_history(user=request.user))
    page = paginate(rows, keys=HISTORY_KEYS, cursor=request.GET.get("after"), size=PAGE_SIZE)
    for escalation in page.rows:
        escalation.took = escalation.closed_at - escalation.created_at if escalation.closed_at else None
    return render(
        request,
        "console/history.html",
        {
            "filters": filters,
            "page": page,
            "base_query": _query_without(request, "after"),
            "is_first_page": not request.GET.get("after"),
        },
    )


# --- One escalation -------------------------------------------------------------------------


@dataclass
class Segment:
    text: str
    evidence: bool


@dataclass
class ThreadMessage:
    message: Message
    segments: list[Segment]
    escalated_here: bool


def _visible_escalation(request: HttpRequest, escalation_id: int) -> Escalation:
    """Another team's escalation is a 404, as if it did not exist."""
    return get_object_or_404(escalations_visible_to(agent=None, user=request.user), pk=escalation_id)


def _highlight(content: str, spans: list[tuple[int, int]]) -> list[Segment]:
    segments: list[Segment] = []
    position = 0
    for start, end in sorted(spans):
        start, end = max(start, position), min(end, len(content))
        if start >= end:
            continue
        if start > position:
            segments.append(Segment(content[position:start], False))
        segments.append(Segment(content[start:end], True))
        position = end
    if position < len(content) or not segments:
        segments.append(Segment(content[position:], False))
    return segments


def _evidence_spans(content: str, item: dict[str, Any]) -> list[tuple[int, int]]:
    """Rule evidence carries start/end offsets into the message; tool-call evidence only its text."""
    start, end = item.get("start"), item.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(content):
        return [(start, end)]
    text = str(item.get("text") or "").strip()
    found = content.find(text) if text else -1
    return [(found, found + len(text))] if found >= 0 else []


def _thread(escalation: Escalation) -> tuple[list[ThreadMessage], bool]:
    """The newest THREAD_LIMIT messages in order, and whether older ones were left out."""
    newest = list(escalation.conversation.messages.order_by("-created_at", "-pk")[: THREAD_LIMIT + 1])
    truncated = len(newest) > THREAD_LIMIT
    thread_messages = newest[:THREAD_LIMIT][::-1]
    evidence_by_message: dict[int, list[dict[str, Any]]] = {}
    for item in escalation.evidence or []:
        if isinstance(item, dict) and item.get("message_id") is not None:
            evidence_by_message.setdefault(item["message_id"], []).append(item)
    # The card sits after the message that first triggered it; without one, after the last message.
    first = next((item["message_id"] for item in escalation.evidence or [] if item.get("message_id")), None)
    if first not in {message.pk for message in thread_messages}:
        first = thread_messages[-1].pk if thread_messages else None
    thread = []
    for message in thread_messages:
        spans = [
            span
            for item in evidence_by_message.get(message.pk, [])
            for span in _evidence_spans(message.content, item)
        ]
        thread.append(ThreadMessage(message, _highlight(message.content, spans), message.pk == first))
    return thread, truncated


def _timeline(escalation: Escalation) -> list[dict[str, Any]]:
    entries = []
    for row in history_of(escalation):
        if row.history_user:
            who = row.history_user.get_username()
        elif (row.history_change_reason or "").startswith(services.TIMER_REASON_PREFIX):
            who = "timer"
        else:
            who = f"agent {escalation.agent.name}"
        entries.append(
            {"at": row.history_date, "who": who, "what": row.history_change_reason, "status": row.status}
        )
    return entries


def _render_detail(
    request: HttpRequest,
    escalation: Escalation,
    *,
    respond_form: RespondForm | None = None,
    dismiss_form: DismissForm | None = None,
    status: int = 200,
    live: dict[str, Any] | None = None,
) -> HttpResponse:
    allowed = allowed_verbs(escalation, request.user)
    thread, truncated = _thread(escalation)
    return render(
        request,
        "console/detail.html",
        {
            "escalation": escalation,
            "thread": thread,
            "thread_truncated": truncated,
            "timeline": _timeline(escalation),
            "evidence": [item for item in escalation.evidence or [] if isinstance(item, dict)],
            "can_claim": Verb.CLAIM in allowed,
            "can_release": Verb.RELEASE in allowed,
            "can_extend": Verb.EXTEND in allowed,
            # One form answers or dismisses: the two verbs are allowed alike.
            "can_answer": Verb.RESPOND in allowed,
            "respond_form": respond_form or RespondForm(),
            "dismiss_form": dismiss_form or DismissForm(),
            "live": live or live_context(escalation_id=escalation.pk),
        },
        status=status,
    )


@require_GET
@login_required
def detail(request: HttpRequest, escalation_id: int) -> HttpResponse:
    live = live_context(escalation_id=escalation_id)  # before the escalation is read: see live_context
    return _render_detail(request, _visible_escalation(request, escalation_id), live=live)


def _act(request: HttpRequest, escalation: Escalation, action: Callable[[], Any], done: str) -> HttpResponse:
    """Run one service verb; a refusal is shown as the service words it, then POST/redirect/GET."""
    try:
        action()
    except services.EscalationError as refusal:
        messages.error(request, refusal.message)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect(reverse("console:detail", args=[escalation.pk]))


@require_POST
@login_required
def claim(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _visible_escalation(request, escalation_id)
    return _act(
        request,
        escalation,
        lambda: services.claim(escalation_id=escalation.pk, user=request.user),
        "You claimed this escalation.",
    )


@require_POST
@login_required
def release(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _visible_escalation(request, escalation_id)
    return _act(
        request,
        escalation,
        lambda: services.release(escalation_id=escalation.pk, user=request.user),
        "Released: it is back in the queue.",
    )


@require_POST
@login_required
def extend(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _visible_escalation(request, escalation_id)
    return _act(
        request,
        escalation,
        lambda: services.extend_claim(escalation_id=escalation.pk, user=request.user),
        "Claim extended.",
    )


@require_POST
@login_required
def respond(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _visible_escalation(request, escalation_id)
    form = RespondForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, escalation, respond_form=form, status=400)
    return _act(
        request,
        escalation,
        lambda: services.respond(
            escalation_id=escalation.pk, user=request.user, guidance=form.cleaned_data["guidance"]
        ),
        "Sent: the agent resumes with your guidance.",
    )


@require_POST
@login_required
def dismiss(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _visible_escalation(request, escalation_id)
    form = DismissForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, escalation, dismiss_form=form, status=400)
    return _act(
        request,
        escalation,
        lambda: services.dismiss(
            escalation_id=escalation.pk, user=request.user, note=form.cleaned_data["note"]
        ),
        "Dismissed: the agent proceeds on its own.",
    )


@require_POST
@login_required
def feedback(request: HttpRequest, escalation_id: int) -> HttpResponse:
    """`needed=true|false`: was a human needed? Any time, changeable (escalations.services.mark_needed)."""
    escalation = _visible_escalation(request, escalation_id)
    raw = request.POST.get("needed", "")
    if raw not in ("true", "false"):
        return HttpResponse("needed must be true or false.", status=400, content_type="text/plain")
    needed = raw == "true"
    return _act(
        request,
        escalation,
        lambda: services.mark_needed(escalation_id=escalation.pk, user=request.user, needed=needed),
        "Marked: a human was needed." if needed else "Marked: a human was not needed.",
    )


# --- One's own on-duty state ----------------------------------------------------------------


@require_POST
@login_required
def on_duty(request: HttpRequest) -> HttpResponse:
    """`on_duty=true|false`, optionally `team=<id>` (else every team), then back to `next` or the queue."""
    form = OnDutyForm(request.POST)
    if form.is_valid():
        try:
            team_ids = membership_set_on_duty(
                user=request.user, on_duty=form.cleaned_data["on_duty"], team_id=form.cleaned_data["team"]
            )
        except ValidationError as error:
            form.add_error(None, error)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    messages.success(
        request,
        ("You are on duty" if form.cleaned_data["on_duty"] else "You are off duty")
        + f" in {len(team_ids)} team{'s' if len(team_ids) != 1 else ''}.",
    )
    target = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("console:queue")
    return redirect(target)


def home(request: HttpRequest) -> HttpResponse:
    """The front door: what the product is, and the user's teams with their open work."""
    teams = []
    if request.user.is_authenticated:
        memberships = (
            Membership.objects.filter(user=request.user)
            .select_related("team")
            .annotate(
                open_count=Count("team__escalations", filter=Q(team__escalations__status=Status.OPEN)),
                claimed_count=Count("team__escalations", filter=Q(team__escalations__status=Status.CLAIMED)),
            )
            .order_by("team__name")
        )
        teams = [
            {
                "name": m.team.name,
                "role": m.get_role_display(),
                "open_count": m.open_count,
                "claimed_count": m.claimed_count,
            }
            for m in memberships
        ]
    return render(request, "home.html", {"teams": teams})
