"""Vocabularies shared by agents, rules and escalations (no models here, so any app may import it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


# Higher is more severe: "the highest severity wins" and the queue sorts critical first.
SEVERITY_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class Urgency(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


URGENCY_RANK = {Urgency.LOW: 1, Urgency.MEDIUM: 2, Urgency.HIGH: 3}


class TimeoutPolicy(models.TextChoices):
    """What happens to an escalation still unanswered when its resolution target passes."""

    KEEP_WAITING = "keep_waiting", "Keep waiting"
    DISMISS = "dismiss", "Dismiss (the agent proceeds alone)"
    ANSWER = "answer", "Answer with the agent's default guidance"


class Assignment(models.TextChoices):
    """Who a new escalation is assigned to (anyone on the team may still claim it)."""

    NONE = "none", "Nobody: the team queue"
    USER = "user", "A named supervisor"
    ROUND_ROBIN = "round_robin", "Round robin among the supervisors on duty and online"


# Unless a rule or the API call says otherwise.
DEFAULT_URGENCY_FOR_SEVERITY = {
    Severity.CRITICAL: Urgency.HIGH,
    Severity.WARNING: Urgency.MEDIUM,
    Severity.INFO: Urgency.LOW,
}


def choice(choices: type[models.TextChoices], field: str, value: Any) -> Any:
    """`value` as a member of `choices`, or a ValidationError on `field` that lists the allowed ones."""
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: f"{value!r} is not one of {allowed}."}) from None


@dataclass(frozen=True)
class Classification:
    severity: Severity
    urgency: Urgency
    topic: str
    area: str


def classify(
    *,
    agent: Any,
    rule: Any = None,
    severity: Severity | str | None = None,
    urgency: Urgency | str | None = None,
    topic: str = "",
    area: str = "",
) -> Classification:
    """A new escalation's severity, urgency, topic and area: the caller's, else the rule's, else the
    agent's defaults; urgency last of all from the severity (critical -> high ...).

    The one place these fall back: open_escalation uses it, and so does the dry run of an
    agent's rules (agents.services.evaluate_conversation), so the two cannot drift apart.
    `agent` and `rule` are an Agent and an EscalationRule (this module imports no models).
    """
    severity = choice(Severity, "severity", severity or (rule.severity if rule else agent.default_severity))
    urgency = choice(
        Urgency,
        "urgency",
        urgency
        or (rule.urgency if rule else "")
        or agent.default_urgency
        or DEFAULT_URGENCY_FOR_SEVERITY[severity],
    )
    return Classification(
        severity=severity,
        urgency=urgency,
        topic=topic or (rule.topic if rule else "") or agent.default_topic,
        area=area or (rule.area if rule else "") or agent.default_area,
    )
