"""The audit log: every change to agents, rules, escalations, webhook endpoints, teams and
memberships, newest first.

Read from django-simple-history's tables (one per model), scoped to the viewer's
teams. A page is one UNION of the tables' (date, kind, id) keys, each part
filtered and cut after the cursor before the union, then the page's rows read
by id per table, and their previous versions in one query per table for the
old → new of each change (simple_history's diff_against).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, Q, QuerySet, Value

from agents.models import Agent, EscalationRule
from escalation_project.keyset import Keys, after_cursor, cursor_after
from escalations.models import Escalation
from supervisors.models import Membership, Team
from supervisors.templatetags.console import local_minute
from webhooks.models import Endpoint

# kind -> (model, how a history row names its team)
KINDS: dict[str, tuple[Any, str]] = {
    "agent": (Agent, "team_id"),
    "rule": (EscalationRule, "agent__team_id"),
    "escalation": (Escalation, "team_id"),
    "endpoint": (Endpoint, "team_id"),
    "team": (Team, "id"),
    "membership": (Membership, "team_id"),
}
KIND_LABELS = {
    "agent": "Agent",
    "rule": "Rule",
    "escalation": "Escalation",
    "endpoint": "Webhook endpoint",
    "team": "Team",
    "membership": "Membership",
}
# "audit_kind", not "kind": a rule has a field of that name.
AUDIT_KEYS: Keys = [("history_date", True), ("audit_kind", True), ("history_id", True)]
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


NONE_SHOWN = "—"


@dataclass
class Change:
    """One field's old and new value as stored (a foreign key is an id), and as people read them."""

    field: str
    old: Any
    new: Any
    old_shown: str = NONE_SHOWN
    new_shown: str = NONE_SHOWN


@dataclass
class AuditEntry:
    kind: str
    at: dt.datetime
    who: str
    action: str
    object_id: int
    object_label: str
    reason: str
    changes: list[Change] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def _history(kind: str, team_ids: set[int] | None) -> QuerySet:
    model, team_field = KINDS[kind]
    rows = model.history.all()
    if team_ids is None:
        return rows
    if kind == "rule":
        # A rule's history names its agent, whose team decides who sees it.
        return rows.filter(agent_id__in=Agent.objects.filter(team_id__in=team_ids).values("pk"))
    return rows.filter(**{f"{team_field}__in": team_ids})


def audit_page(
    *,
    team_ids: set[int] | None,
    kinds: list[str],
    username: str = "",
    object_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    text: str = "",
    cursor: str | None = None,
    size: int = 50,
) -> AuditPage:
    """Changes in the viewer's teams (None: all), newest first, `size` a page after `cursor`."""
    after = after_cursor(AUDIT_KEYS, cursor)
    parts = []
    for kind in kinds:
        rows = _history(kind, team_ids).annotate(audit_kind=Value(kind, output_field=CharField()))
        if username:
            rows = rows.filter(history_user__username=username)
        if object_id is not None:
            rows = rows.filter(id=object_id)
        if start is not None:
            rows = rows.filter(history_date__gte=start)
        if end is not None:
            rows = rows.filter(history_date__lt=end)
        if text:
            rows = rows.filter(Q(history_change_reason__icontains=text))
        if after is not None:
            rows = rows.filter(after)
        parts.append(rows.order_by().values("history_date", "audit_kind", "history_id"))
    if not parts:
        return AuditPage([], None)
    keys = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    ordering = [f"-{name}" for name, _ in AUDIT_KEYS]
    found = list(keys.order_by(*ordering)[: size + 1])
    next_cursor = cursor_after(found[size - 1], AUDIT_KEYS) if len(found) > size else None
    return AuditPage(_entries(found[:size]), next_cursor)


def _entries(keys: list[dict[str, Any]]) -> list[AuditEntry]:
    by_kind: dict[str, list[int]] = {}
    for key in keys:
        by_kind.setdefault(key["audit_kind"], []).append(key["history_id"])
    rows: dict[tuple[str, int], Any] = {}
    for kind, history_ids in by_kind.items():
        model = KINDS[kind][0]
        # A membership's label names its user and team: read with the page, not per row.
        related = ["history_user", *(["user", "team"] if kind == "membership" else [])]
        page_rows = list(model.history.filter(history_id__in=history_ids).select_related(*related))
        previous = _previous_versions(model, page_rows)
        for row in page_rows:
            rows[(kind, row.history_id)] = (row, previous.get(row.history_id))
    entries = [_entry(key["audit_kind"], *rows[(key["audit_kind"], key["history_id"])]) for key in keys]
    _show_values(entries)
    return entries


def _show_values(entries: list[AuditEntry]) -> None:
    """Fill each change's shown values: a user by username, another object by its name, a time
    like the rest of the console (the viewer's zone, to the minute), nothing as "—".

    A history row stores a foreign key as the id (`claimed_by: — → 3`); the page's ids
    are read in one query per related model.
    """
    wanted: dict[Any, set[Any]] = {}
    for entry in entries:
        for change in entry.changes:
            related = _related_model(entry.kind, change.field)
            if related is not None:
                wanted.setdefault(related, set()).update(v for v in (change.old, change.new) if v is not None)
    names = {related: _names_of(related, ids) for related, ids in wanted.items()}
    for entry in entries:
        for change in entry.changes:
            related = _related_model(entry.kind, change.field)
            change.old_shown = _shown(change.old, names.get(related))
            change.new_shown = _shown(change.new, names.get(related))


def _related_model(kind: str, field_name: str) -> Any:
    model = KINDS[kind][0]
    try:
        field = model._meta.get_field(field_name)
    except FieldDoesNotExist:  # a field the model no longer has: shown as stored
        return None
    return field.related_model if field.many_to_one else None


def _names_of(related: Any, ids: set[Any]) -> dict[Any, str]:
    if related is get_user_model():
        return dict(related._default_manager.filter(pk__in=ids).values_list("pk", related.USERNAME_FIELD))
    return {pk: str(found) for pk, found in related._default_manager.in_bulk(list(ids)).items()}


def _shown(value: Any, names: dict[Any, str] | None) -> str:
    if value is None or value == "":
        return NONE_SHOWN
    if names is not None:
        # Deleted since: the id is all the log still knows.
        return names.get(value, f"#{value} (deleted)")
    if isinstance(value, dt.datetime):
        return local_minute(value)
    return str(value)


def _previous_versions(model, page_rows: list[Any]) -> dict[int, Any]:
    """Each row's previous version of the same object, from one query over those objects' history."""
    if not page_rows:
        return {}
    latest = max(row.history_date for row in page_rows)
    versions = model.history.filter(id__in={row.id for row in page_rows}, history_date__lte=latest).order_by(
        "id", "history_date", "history_id"
    )
    previous, last_of = {}, {}
    for version in versions:
        previous[version.history_id] = last_of.get(version.id)
        last_of[version.id] = version
    return previous


def _entry(kind: str, row: Any, before: Any) -> AuditEntry:
    changes = []
    if row.history_type == "~" and before is not None:
        changes = [Change(c.field, c.old, c.new) for c in row.diff_against(before).changes]
    return AuditEntry(
        kind=kind,
        at=row.history_date,
        who=_who(row),
        action=ACTIONS.get(row.history_type, row.history_type),
        object_id=row.id,
        object_label=_label(kind, row),
        reason=row.history_change_reason or "",
        changes=changes,
    )


def _who(row: Any) -> str:
    if row.history_user is not None:
        return row.history_user.get_username()
    reason = row.history_change_reason or ""
    # Mirrors the escalation timeline: a timer's rows say so; other unattributed rows were
    # the agent (over the API) or the system.
    if reason.startswith("Timer: "):
        return "timer"
    return "agent or system"


def _label(kind: str, row: Any) -> str:
    if kind == "escalation":
        return f"#{row.id} {row.reason[:60]}"
    if kind == "endpoint":
        return row.url
    if kind == "membership":
        return f"{row.user} in {row.team} ({row.role})"
    return row.name
