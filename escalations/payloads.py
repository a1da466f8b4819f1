"""The JSON shape of an escalation in events, broadcasts and webhooks (version 1)."""

from datetime import datetime
from typing import Any

from escalations.models import Escalation

PAYLOAD_VERSION = 1


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _username(user) -> str | None:
    return user.get_username() if user else None


def escalation_payload(escalation: Escalation) -> dict[str, Any]:
    """Call with agent, team, conversation, rule and the user fields loaded, or pay a query each."""
    rule = escalation.rule
    return {
        "id": escalation.pk,
        "status": escalation.status,
        "severity": escalation.severity,
        "urgency": escalation.urgency,
        "reason": escalation.reason,
        "topic": escalation.topic,
        "area": escalation.area,
        "channel": escalation.channel,
        "origin": escalation.origin,
        "blocking": escalation.blocking,
        "agent": {
            "id": escalation.agent_id,
            "slug": escalation.agent.slug,
            "name": escalation.agent.name,
        },
        "team": {"id": escalation.team_id, "slug": escalation.team.slug},
        "conversation": {
            "id": escalation.conversation_id,
            "external_id": escalation.conversation.external_id,
        },
        "rule": {"id": rule.pk, "name": rule.name} if rule else None,
        "evidence": escalation.evidence,
        "assigned_to": _username(escalation.assigned_to),
        "claimed_by": _username(escalation.claimed_by),
        "claimed_at": _time(escalation.claimed_at),
        "claim_expires_at": _time(escalation.claim_expires_at),
        "responder": _username(escalation.responder),
        "guidance": escalation.guidance,
        "closing_note": escalation.closing_note,
        "closed_at": _time(escalation.closed_at),
        "closed_automatically": escalation.closed_automatically,
        "timeout_policy": escalation.timeout_policy,
        "timeout_at": _time(escalation.timeout_at),
        "response_due_at": _time(escalation.response_due_at),
        "resolution_due_at": _time(escalation.resolution_due_at),
        "response_breached_at": _time(escalation.response_breached_at),
        "resolution_breached_at": _time(escalation.resolution_breached_at),
        "level": escalation.level,
        "needed": escalation.needed,
        "marked_at": _time(escalation.marked_at),
        "created_at": _time(escalation.created_at),
    }
