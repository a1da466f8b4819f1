"""Vocabularies shared by agents, rules and escalations (no models here, so any app may import it)."""

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
