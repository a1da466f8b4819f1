"""Emails about events (the timers', a new escalation's, a webhook endpoint disabled). Built from
the Event row, so a retried task sends the same message."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from escalations.models import Event, EventType


def console_url(escalation_id: int) -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/") + reverse("console:detail", args=[escalation_id])


def _summary(escalation: dict) -> str:
    return (
        f"{escalation['severity'].capitalize()} · {escalation['urgency']} urgency · "
        f"team {escalation['team']['slug']} · agent {escalation['agent']['name']}"
    )


def _escalated(event: Event) -> tuple[str, list[str]]:
    data, escalation = event.payload, event.payload["escalation"]
    subject = f"Escalated to level {data['level']}: escalation #{escalation['id']} is still unclaimed"
    return subject, [
        f"Nobody has claimed it yet, so level {data['level']} of the team's escalation ladder is told: "
        f"{', '.join(data['notified'])}."
    ]


def _created(event: Event) -> tuple[str, list[str]]:
    escalation = event.payload["escalation"]
    assignee = escalation["assigned_to"]
    subject = f"New {escalation['severity']} escalation #{escalation['id']}" + (
        f", assigned to {assignee}" if assignee else ""
    )
    due_at = dt.datetime.fromisoformat(escalation["response_due_at"]).astimezone(dt.UTC)
    lines = [f"To be claimed by {due_at:%Y-%m-%d %H:%M} UTC."]
    if assignee:
        lines.append(f"Assigned to {assignee}; anyone on the team may still claim it.")
    return subject, lines


def _reminded(event: Event) -> tuple[str, list[str]]:
    data, escalation = event.payload, event.payload["escalation"]
    due_at = dt.datetime.fromisoformat(data["due_at"]).astimezone(dt.UTC)
    waiting = "unclaimed" if data["target"] == "response" else "claimed and unanswered"
    subject = f"Reminder: escalation #{escalation['id']} is {waiting} past its {data['target']} target"
    return subject, [
        f"The {data['target']} target was due at {due_at:%Y-%m-%d %H:%M} UTC.",
        f"Claimed by {escalation['claimed_by']}." if escalation["claimed_by"] else "Nobody claimed it.",
    ]


def _breached(event: Event) -> tuple[str, list[str]]:
    data, escalation = event.payload, event.payload["escalation"]
    due_at = dt.datetime.fromisoformat(data["due_at"]).astimezone(dt.UTC)
    subject = f"Target missed: escalation #{escalation['id']} passed its {data['target']} target"
    return subject, [f"The {data['target']} target was due at {due_at:%Y-%m-%d %H:%M} UTC."]


# Event type -> (subject, the lines particular to it). The summary, the reason and the
# console link are common to every email.
_MESSAGES = {
    EventType.CREATED: _created,
    EventType.ESCALATED: _escalated,
    EventType.SLA_BREACHED: _breached,
    EventType.REMINDER: _reminded,
}


def _endpoint_disabled(event: Event) -> tuple[str, str]:
    """A team's event, not an escalation's: the whole message is its own."""
    endpoint = event.payload["endpoint"]
    disabled_at = dt.datetime.fromisoformat(event.payload["disabled_at"]).astimezone(dt.UTC)
    admin_path = reverse("admin:webhooks_endpoint_change", args=[endpoint["id"]])
    subject = f"Webhook endpoint disabled: {endpoint['url']}"
    body = (
        f"The webhook endpoint {endpoint['url']} of team {event.team.name} was disabled "
        f"on {disabled_at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Reason: {event.payload['reason']}\n\n"
        "No events are sent to it until it is re-enabled. Fix the receiver, then re-enable "
        f"it in the admin ({admin_path}) and replay the deliveries that failed meanwhile.\n"
    )
    return subject, body


def send_event_email(*, event_id: int, usernames: list[str]) -> int:
    """Email one event to these users (those active with an address); returns how many."""
    return _send(Event.objects.get(pk=event_id), usernames)


def _send(event: Event, usernames: list[str]) -> int:
    addresses = sorted(
        get_user_model()
        .objects.filter(username__in=usernames, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not addresses:
        return 0
    if event.type == EventType.WEBHOOK_ENDPOINT_DISABLED:
        send_mail(*_endpoint_disabled(event), None, addresses)
        return len(addresses)
    escalation = event.payload["escalation"]
    subject, lines = _MESSAGES[EventType(event.type)](event)
    body = "\n".join(
        [
            _summary(escalation),
            "",
            escalation["reason"],
            "",
            *lines,
            "",
            f"Open it in the console: {console_url(escalation['id'])}",
        ]
    )
    send_mail(subject, body, None, addresses)
    return len(addresses)
